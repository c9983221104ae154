extension Link {
    /// Parses `http://host[:port][/path]` into a link of the given type.
    ///
    /// The rules are those of the HTTP toolkit's `HTTPURL` (which SHFS cannot use: it must not
    /// depend on SwiftNIO), narrowed to what an entry stores: a host name (no IPv6 literal) of at
    /// most 32 bytes and a path of at most 71. A test runs both parsers over the same URLs.
    ///
    /// - Throws: ``SHFSError/Code/invalidArgument`` naming what is wrong: not `http://`, no host, a host
    ///   over 32 bytes, a bad port, a path over 71 bytes.
    public init(url: String, type: LinkType) throws(SHFSError) {
        func bad(_ why: String) -> SHFSError {
            SHFSError(.invalidArgument, "bad URL '\(url)': \(why)")
        }
        guard url.utf8.count > 7, url.prefix(7).lowercased() == "http://" else {
            throw bad("links must be plain http:// URLs (http://host[:port]/path)")
        }
        let rest = url.dropFirst(7)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var path = rest.dropFirst(authority.count)
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        if path.hasPrefix("/") { path = path.dropFirst() }
        guard !authority.contains("@") else { throw bad("user information is not supported") }
        guard !authority.hasPrefix("[") else { throw bad("IPv6 address literals are not supported; use a host name") }
        var host = Substring(authority)
        var port: UInt16 = 80
        if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            let digits = authority[authority.index(after: colon)...]
            guard (1...5).contains(digits.utf8.count), digits.utf8.allSatisfy({ $0 &- 48 < 10 }),
                let p = UInt16(digits), p > 0
            else {
                throw bad("the port must be a number from 1 to 65535")
            }
            port = p
        }
        guard !host.isEmpty else { throw bad("no host") }
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
            throw bad("the host '\(host)' has characters a host name cannot have")
        }
        guard host.utf8.count <= Layout.Entry.hostSize else {
            throw bad("the host is \(host.utf8.count) bytes; SHFS stores at most 32")
        }
        guard path.utf8.count <= Layout.Entry.pathSize else {
            throw bad("the path is \(path.utf8.count) bytes; SHFS stores at most 71 (without the leading /)")
        }
        guard !path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw bad("the path contains spaces or control characters; percent-encode them")
        }
        self.init(host: String(host).lowercased(), port: port, path: String(path), type: type, hostType: .name)
    }
}
