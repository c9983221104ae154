/// An `http://` (or, where allowed, `https://`) URL: scheme, host, port and the path with its
/// query. The one URL parser of the package: the control plane, the origin options of
/// `minicache`, the cache's absolute URIs and the clients all read URLs through it.
///
/// The rules (RFC 3986 §3.2, RFC 9110 §4.2), one set for every caller:
/// - the scheme is `http` or `https`, in any case; callers choose which they accept;
/// - no user information (`user@host`): RFC 9110 §4.2.4 makes it an error;
/// - the host is a name of ASCII letters, digits, `-`, `.` and `_` (stored lower-cased), an
///   IPv4 address, or an IPv6 address in brackets (stored without them); at most 255 bytes;
/// - the port, when given, is 1 to 5 digits with a value from 1 to 65535; an empty port
///   (`host:`) is an error; without one the scheme's default (80, 443) applies;
/// - the path and query start at the first `/` or `?` (`/` when absent; a bare `?q` becomes
///   `/?q`); a `#fragment` is dropped; spaces, control characters and DEL are errors.
package struct HTTPURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL schemes the package speaks.
    package enum Scheme: String, Sendable, Hashable {
        case http
        case https

        /// 80 or 443.
        package var defaultPort: Int { self == .http ? 80 : 443 }
    }

    /// `http` or `https`.
    package var scheme: Scheme
    /// The host: a lower-cased name, an IPv4 address, or an IPv6 address without brackets.
    package var host: String
    /// The port, the scheme's default when the URL gave none.
    package var port: Int
    /// The path with its query, starting with `/`.
    package var path: String

    /// Creates a URL from its parts; an empty path becomes `/`.
    package init(scheme: Scheme = .http, host: String, port: Int? = nil, path: String = "/") {
        self.scheme = scheme
        self.host = host
        self.port = port ?? scheme.defaultPort
        self.path = path.isEmpty ? "/" : path
    }

    /// Parses `scheme://host[:port][/path][?query][#fragment]` by the rules above.
    /// - Parameters:
    ///   - text: the URL.
    ///   - schemes: the schemes the caller accepts; by default `http` only.
    /// - Throws: ``HTTPURLError`` saying what is wrong.
    package init(_ text: some StringProtocol, schemes: Set<Scheme> = [.http]) throws(HTTPURLError) {
        let text = String(text)
        let scheme: Scheme
        let rest: Substring
        if Self.hasPrefix(text, "http://") {
            scheme = .http
            rest = text.dropFirst(7)
        } else if Self.hasPrefix(text, "https://") {
            scheme = .https
            rest = text.dropFirst(8)
        } else {
            let accepted = schemes.contains(.https) ? "an http:// or https:// URL" : "an http:// URL"
            throw HTTPURLError(text, "is not \(accepted)")
        }
        guard schemes.contains(scheme) else {
            throw HTTPURLError(text, "\(scheme.rawValue):// is not supported here; use http://")
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let address = try HostPort(authority: rest[..<authorityEnd], defaultPort: scheme.defaultPort, in: text)
        var path = rest[authorityEnd...]
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        guard !path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTPURLError(text, "the path contains spaces or control characters; percent-encode them")
        }
        self.init(scheme: scheme, host: address.host, port: address.port, path: path.hasPrefix("?") ? "/" + path : String(path))
    }

    /// `host` as it appears in a URL: IPv6 addresses in brackets.
    package var hostLiteral: String { HostPort.literal(host) }

    /// The authority as a `Host` field sends it: the port is left out when it is the scheme's default.
    package var authority: String { port == scheme.defaultPort ? hostLiteral : "\(hostLiteral):\(port)" }

    /// `scheme://host:port` without the path, the port always written.
    package var base: String { "\(scheme.rawValue)://\(hostLiteral):\(port)" }

    /// Where to connect.
    package var address: OriginAddress { OriginAddress(host: host, port: port, isSecure: scheme == .https) }

    /// The same server with another path.
    package func with(path: String) -> HTTPURL { HTTPURL(scheme: scheme, host: host, port: port, path: path) }

    /// The URL `reference` names relative to this one: an absolute URL, an absolute path, or a
    /// path relative to this URL's directory (RFC 3986 §5.2 without dot-segment removal).
    /// - Throws: ``HTTPURLError`` when `reference` is an absolute URL that does not parse.
    package func resolving(_ reference: String) throws(HTTPURLError) -> HTTPURL {
        if Self.hasPrefix(reference, "http://") || Self.hasPrefix(reference, "https://") {
            return try HTTPURL(reference, schemes: [.http, .https])
        }
        if reference.hasPrefix("//") { return try HTTPURL(scheme.rawValue + ":" + reference, schemes: [scheme]) }
        if reference.hasPrefix("/") { return with(path: reference) }
        let pathOnly = path.prefix { $0 != "?" }
        let directory = pathOnly.lastIndex(of: "/").map { String(pathOnly[...$0]) } ?? "/"
        return with(path: directory + reference)
    }

    /// `scheme://authority/path`.
    package var description: String { "\(scheme.rawValue)://\(authority)\(path)" }

    /// Whether `text` starts with the lower-case ASCII `prefix`, in any case.
    static func hasPrefix(_ text: String, _ prefix: StaticString) -> Bool {
        var chars = text.utf8.makeIterator()
        return prefix.withUTF8Buffer { prefix in
            for expected in prefix {
                guard let c = chars.next(), c | 0x20 == expected else { return false }
            }
            return true
        }
    }
}
