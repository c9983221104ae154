import Foundation

/// A parsed HTTP response.
struct TestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: self.body, as: UTF8.self) }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// A blocking HTTP/1.1 client over one TCP connection, for tests that need byte-level control.
final class TestConnection {
    private var fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeout: Double = 10) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            // deinit runs for a fully initialised object that throws: it must not close the
            // number again (by then it may be another thread's descriptor).
            close(self.fd)
            self.fd = -1
            throw TestClientError(description: "cannot connect to 127.0.0.1:\(port): errno \(errno)")
        }
    }

    deinit {
        if self.fd >= 0 { close(self.fd) }
    }

    /// Sends bytes; false when the peer has closed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { self.send(Array(text.utf8)) }

    /// Receives more bytes into the buffer; false on end of stream or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        self.buffer += chunk[0..<n]
        return true
    }

    /// Reads one response; nil when the connection closed before one arrived.
    func readResponse(head isHeadRequest: Bool = false) throws -> TestResponse? {
        var headEnd: Int?
        while true {
            if let end = Self.find([13, 10, 13, 10], in: self.buffer) {
                headEnd = end
                break
            }
            if !self.fill() {
                if self.buffer.isEmpty { return nil }
                throw TestClientError(description: "connection ended inside a response head: \(String(decoding: self.buffer, as: UTF8.self))")
            }
        }
        let headText = String(decoding: self.buffer[0..<headEnd!], as: UTF8.self)
        self.buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestClientError(description: "bad status line in \(headText)")
        }
        let headers = lines.map { line -> (String, String) in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = TestResponse(status: status, headers: headers, body: [])
        if isHeadRequest || status == 304 || status / 100 == 1 { return response }
        if let length = response.header("Content-Length").flatMap(Int.init) {
            while self.buffer.count < length {
                guard self.fill() else { throw TestClientError(description: "connection ended after \(self.buffer.count) of \(length) body bytes") }
            }
            response.body = Array(self.buffer[0..<length])
            self.buffer.removeFirst(length)
        } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                while Self.find([13, 10], in: self.buffer) == nil {
                    guard self.fill() else { throw TestClientError(description: "connection ended in chunked body") }
                }
                let lineEnd = Self.find([13, 10], in: self.buffer)!
                let size = Int(String(decoding: self.buffer[0..<lineEnd], as: UTF8.self), radix: 16)!
                self.buffer.removeFirst(lineEnd + 2)
                while self.buffer.count < size + 2 {
                    guard self.fill() else { throw TestClientError(description: "connection ended in chunk") }
                }
                response.body += self.buffer[0..<size]
                self.buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
        } else {
            while self.fill() {}
            response.body = self.buffer
            self.buffer = []
        }
        return response
    }

    /// Reads `count` body bytes slowly is not needed; this reads raw bytes until end of stream.
    func readToEnd() -> [UInt8] {
        while self.fill() {}
        defer { self.buffer = [] }
        return self.buffer
    }

    /// Everything received until the server closed (end of stream or reset: true) or the
    /// receive timeout passed (false).
    func readUntilClosed() -> (bytes: [UInt8], closed: Bool) {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                self.buffer += chunk[0..<n]
                continue
            }
            let closed = n == 0 || errno == ECONNRESET
            defer { self.buffer = [] }
            return (self.buffer, closed)
        }
    }

    /// Whether the server closed the connection (end of stream seen within the timeout).
    func isClosed() -> Bool {
        while self.fill() {}
        var one: UInt8 = 0
        return recv(self.fd, &one, 1, Int32(MSG_DONTWAIT)) == 0
    }

    /// Receives at most `count` raw bytes (for slow readers).
    func receiveRaw(max count: Int) -> [UInt8] {
        if !self.buffer.isEmpty {
            let n = min(count, self.buffer.count)
            defer { self.buffer.removeFirst(n) }
            return Array(self.buffer[0..<n])
        }
        var chunk = [UInt8](repeating: 0, count: count)
        let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(chunk[0..<n]) : []
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    /// One request on a fresh connection.
    static func get(port: Int, _ target: String, headers: [String] = [], method: String = "GET") throws -> TestResponse {
        let connection = try TestConnection(port: port)
        let extra = headers.map { $0 + "\r\n" }.joined()
        connection.send("\(method) \(target) HTTP/1.1\r\nHost: test\r\n\(extra)\r\n")
        guard let response = try connection.readResponse(head: method == "HEAD") else {
            throw TestClientError(description: "no response to \(method) \(target)")
        }
        return response
    }
}
