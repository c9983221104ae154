/// An HTTP/1.1 response as a test client received it.
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first field named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return self.headers.first { $0.0.lowercased() == name }?.1
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: self.body, as: UTF8.self) }

    /// Parses one response head (status line and fields, without the blank line).
    static func parseHead(_ text: String) throws -> (status: Int, headers: [(String, String)]) {
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestClientError(description: "bad status line in \(text)")
        }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else {
                throw TestClientError(description: "field line without a colon in \(text)")
            }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        return (status, headers)
    }
}

/// What went wrong in a test client or a test origin.
public struct TestClientError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }
}

extension Array where Element == UInt8 {
    /// The index of the first occurrence of `needle`.
    func firstIndex(of needle: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, self.count >= needle.count, start <= self.count - needle.count else { return nil }
        for i in start...(self.count - needle.count) where self[i] == needle[0] {
            var match = true
            for j in 1..<needle.count where self[i + j] != needle[j] {
                match = false
                break
            }
            if match { return i }
        }
        return nil
    }
}
