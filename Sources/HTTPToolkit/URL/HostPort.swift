/// A `host:port` pair read from text: a URL's authority, or a listen address such as
/// `127.0.0.1:8080` or `[::1]:9080`. The host and port rules are ``HTTPURL``'s.
package struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// A lower-cased host name, an IPv4 address, or an IPv6 address without brackets.
    package var host: String
    /// The port.
    package var port: Int

    /// Creates a pair from its parts.
    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses a listen address `ADDR:PORT` (IPv6 in brackets); the port is required and may be
    /// 0 (any free port).
    /// - Throws: ``HTTPURLError`` saying what is wrong.
    package init(listenAddress text: some StringProtocol) throws(HTTPURLError) {
        let text = String(text)
        guard !text.contains("/") else { throw HTTPURLError(text, "expected ADDR:PORT, not a URL") }
        let (host, port) = try Self.split(text[...], in: text)
        guard let port else { throw HTTPURLError(text, "expected ADDR:PORT; the port is missing") }
        guard let value = Self.portValue(port), value <= 65535 else {
            throw HTTPURLError(text, "the port must be a number from 0 to 65535")
        }
        self.init(host: try Self.validHost(host, in: text), port: value)
    }

    /// Parses a URL authority `host[:port]`.
    /// - Parameters:
    ///   - authority: the text between `//` and the path.
    ///   - defaultPort: the port when none is given.
    ///   - text: the whole URL, for error messages.
    init(authority: Substring, defaultPort: Int, in text: String) throws(HTTPURLError) {
        guard !authority.contains("@") else {
            throw HTTPURLError(text, "user information (user@host) is not supported")
        }
        let (host, port) = try Self.split(authority, in: text)
        var value = defaultPort
        if let port {
            guard let p = Self.portValue(port), (1...65535).contains(p) else {
                throw HTTPURLError(text, "the port must be a number from 1 to 65535")
            }
            value = p
        }
        self.init(host: try Self.validHost(host, in: text), port: value)
    }

    /// `host:port`, IPv6 hosts in brackets.
    package var description: String { "\(Self.literal(host)):\(port)" }

    /// A host as written in a URL or a `Host` field: IPv6 addresses in brackets.
    package static func literal(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }

    /// Splits `host[:port]`, keeping a bracketed IPv6 host whole; the port is nil when absent.
    private static func split(_ authority: Substring, in text: String) throws(HTTPURLError) -> (Substring, Substring?) {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw HTTPURLError(text, "the IPv6 address has no closing ]")
            }
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else {
                throw HTTPURLError(text, "only :port may follow the IPv6 address")
            }
            return (authority[...close], after.isEmpty ? nil : after.dropFirst())
        }
        guard let colon = authority.firstIndex(of: ":") else { return (authority, nil) }
        let port = authority[authority.index(after: colon)...]
        guard !port.contains(":") else {
            throw HTTPURLError(text, "an IPv6 address must be written in brackets, e.g. [::1]:8080")
        }
        return (authority[..<colon], port)
    }

    /// 1 to 5 digits.
    private static func portValue(_ text: Substring) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 &- 48 < 10 }) else { return nil }
        return Int(text)
    }

    /// The host without brackets, lower-cased; checked by the rules of ``HTTPURL``.
    private static func validHost(_ host: Substring, in text: String) throws(HTTPURLError) -> String {
        guard !host.isEmpty else { throw HTTPURLError(text, "there is no host") }
        guard host.utf8.count <= 255 else { throw HTTPURLError(text, "the host is longer than 255 bytes") }
        if host.hasPrefix("[") {
            let address = host.dropFirst().dropLast()
            guard Self.isIPv6(address) else { throw HTTPURLError(text, "'\(address)' is not an IPv6 address") }
            return address.lowercased()
        }
        guard host.utf8.allSatisfy({ Self.isNameByte($0) }) else {
            throw HTTPURLError(
                text, "the host '\(host)' has characters a host name cannot have (letters, digits, '-', '.', '_')")
        }
        return host.lowercased()
    }

    @inline(__always)
    private static func isNameByte(_ c: UInt8) -> Bool {
        c &- 97 < 26 || c &- 65 < 26 || c &- 48 < 10 || c == 45 || c == 46 || c == 95
    }

    /// Hex groups separated by colons, at most one `::` standing for zero groups or more, the
    /// last group optionally an IPv4 address (RFC 4291 §2.2).
    private static func isIPv6(_ text: Substring) -> Bool {
        guard text.utf8.count >= 2, text.utf8.allSatisfy({ $0 == 58 || $0 == 46 || Hex.nibble($0) != nil }) else {
            return false
        }
        var sides: [Substring] = [text]
        if let gap = text.firstRange(of: "::") {
            sides = [text[..<gap.lowerBound], text[gap.upperBound...]]
            guard !sides[1].contains("::") else { return false }
        }
        var count = 0
        for (side, part) in sides.enumerated() where !part.isEmpty {
            let groups = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, group) in groups.enumerated() {
                let isLast = side == sides.count - 1 && index == groups.count - 1
                if isLast, group.contains(".") {
                    guard IPv4.parse(group) != nil else { return false }
                    count += 2
                } else {
                    guard (1...4).contains(group.utf8.count), group.utf8.allSatisfy({ Hex.nibble($0) != nil }) else {
                        return false
                    }
                    count += 1
                }
            }
        }
        return sides.count == 2 ? count <= 7 : count == 8
    }
}
