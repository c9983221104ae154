import HTTPToolkit
import NIOHTTP1

/// The primary cache key of a request (RFC 9111 §2): method, scheme and authority, and target
/// (path and query). HEAD shares GET's key, since a stored GET response answers a HEAD.
///
/// The secondary key adds the values of the request fields the stored response's `Vary`
/// nominates (§4.1); ``digest(vary:requestHeaders:)`` hashes both into the 32-byte SHA-256
/// digest that addresses the object in the volume.
package struct CacheKey: Sendable, Hashable {
    /// `GET` for GET and HEAD, else the method.
    package var method: String
    /// Lower-cased scheme, `http` or `https`.
    package var scheme: String
    /// Lower-cased host, followed by `:port` when the port is not the scheme's default.
    package var authority: String
    /// Path and query as received (never empty; a fragment is dropped).
    package var target: String

    /// Creates a key from its parts, normalising scheme, authority and target.
    package init(method: HTTPMethod = .GET, scheme: String, authority: String, target: String) {
        self.method = (method == .HEAD ? HTTPMethod.GET : method).rawValue
        self.scheme = scheme.lowercased()
        self.authority = Self.normalisedAuthority(authority, scheme: self.scheme)
        var target = target
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        self.target = target.isEmpty ? "/" : target
    }

    /// The key of a request received by the cache: an absolute-form target gives its own
    /// scheme and authority, otherwise `scheme` and the `Host` field are used.
    /// - Returns: `nil` when the request names no authority.
    package init?(request: HTTPRequestHead, scheme: String = "http") {
        if let absolute = try? HTTPURL(request.uri, schemes: [.http, .https]) {
            self.init(method: request.method, scheme: absolute.scheme.rawValue, authority: absolute.authority, target: absolute.path)
            return
        }
        guard let host = request.headers.first(name: "host"), !host.isEmpty, request.uri.hasPrefix("/") else { return nil }
        self.init(method: request.method, scheme: scheme, authority: host, target: request.uri)
    }

    /// The bytes of the primary key: method, scheme, authority and target separated by NUL,
    /// which none of them may contain.
    package var primaryBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(method.utf8.count + scheme.utf8.count + authority.utf8.count + target.utf8.count + 3)
        bytes += method.utf8
        bytes.append(0)
        bytes += scheme.utf8
        bytes.append(0)
        bytes += authority.utf8
        bytes.append(0)
        bytes += target.utf8
        return bytes
    }

    /// The bytes of the secondary key: the primary key, then for each nominated field its
    /// name and either `0x01` and the normalised value or `0x00` when absent. Without `Vary`
    /// this equals ``primaryBytes``.
    package func variantBytes(vary: VarySelector, values: [String?]) -> [UInt8] {
        var bytes = primaryBytes
        for (name, value) in zip(vary.names, values) {
            bytes.append(0x0A)
            bytes += name.utf8
            if let value {
                bytes.append(1)
                bytes += value.utf8
            } else {
                bytes.append(0)
            }
        }
        return bytes
    }

    /// The digest addressing the response to a request with `requestHeaders` whose stored
    /// response varies on `vary`.
    package func digest(vary: VarySelector = .none, requestHeaders: HTTPHeaders = [:]) -> CacheDigest {
        CacheDigest.sha256(of: variantBytes(vary: vary, values: vary.values(from: requestHeaders)))
    }

    /// The digest of the primary key alone: where the `Vary` of a URL's variants is recorded.
    package var primaryDigest: CacheDigest { CacheDigest.sha256(of: primaryBytes) }

    static func normalisedAuthority(_ authority: String, scheme: String) -> String {
        let lower = authority.lowercased()
        let defaultPort = scheme == "https" ? ":443" : ":80"
        if lower.hasSuffix(defaultPort) { return String(lower.dropLast(defaultPort.count)) }
        return lower
    }
}
