/// An `http://` or `https://host[:port][/path]` URL, the only kinds the control plane speaks.
public struct HTTPURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The path with its query, starting with `/`.
    public var path: String
    /// `https`: the connection is TLS.
    public var isSecure: Bool

    public init(host: String, port: Int, path: String = "/", isSecure: Bool = false) {
        self.host = host
        self.port = port
        self.path = path.isEmpty ? "/" : path
        self.isSecure = isSecure
    }

    /// Parses `http://` or `https://host[:port][/path]` (IPv6 hosts in brackets; default ports 80
    /// and 443).
    /// - Throws: ``ControlError`` with code `badURL`.
    public init(_ text: String) throws(ControlError) {
        let isSecure = text.hasPrefix("https://")
        guard isSecure || text.hasPrefix("http://") else {
            throw ControlError(.badURL, "'\(text)' is not an http:// or https:// URL")
        }
        let rest = text.dropFirst(isSecure ? "https://".count : "http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = String(rest[slash...])
        var host = Substring(authority)
        var port = isSecure ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ControlError(.badURL, "'\(text)': unclosed [ in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw ControlError(.badURL, "'\(text)': bad port") }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                throw ControlError(.badURL, "'\(text)': bad port")
            }
            port = p
        }
        guard !host.isEmpty else { throw ControlError(.badURL, "'\(text)' has no host") }
        self.init(host: String(host), port: port, path: path, isSecure: isSecure)
    }

    /// `http://host:port` (or `https://`) without the path.
    public var base: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(isSecure ? "https" : "http")://\(h):\(port)"
    }

    /// The same server with another path.
    public func with(path: String) -> HTTPURL { HTTPURL(host: host, port: port, path: path, isSecure: isSecure) }

    /// The URL `reference` names relative to this one (absolute URLs, absolute paths, relative paths).
    public func resolving(_ reference: String) throws(ControlError) -> HTTPURL {
        if reference.hasPrefix("http://") || reference.hasPrefix("https://") { return try HTTPURL(reference) }
        if reference.hasPrefix("/") { return with(path: reference) }
        let pathOnly = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        let directory = pathOnly.lastIndex(of: "/").map { String(pathOnly[...$0]) } ?? "/"
        return with(path: directory + reference)
    }

    public var description: String { base + path }
}
