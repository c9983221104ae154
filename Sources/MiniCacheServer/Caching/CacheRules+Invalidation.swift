import HTTPToolkit
import NIOHTTP1

extension CacheRules {
    /// The primary keys to invalidate after forwarding `request` (RFC 9111 §4.4): for an unsafe
    /// method answered with a non-error status (2xx or 3xx), the target URI and the URIs in
    /// `Location` and `Content-Location` when they have the same origin. Every stored variant
    /// of these keys is to be removed. Safe methods invalidate nothing.
    package func invalidatedKeys(request: HTTPRequestHead, key: CacheKey, response: HTTPResponseHead) -> [CacheKey] {
        guard !Self.safeMethods.contains(request.method), (200..<400).contains(response.status.code) else { return [] }
        var keys = [CacheKey(method: .GET, scheme: key.scheme, authority: key.authority, target: key.target)]
        for name in ["location", "content-location"] {
            guard let value = response.headers.first(name: name),
                let target = Self.sameOriginTarget(value, base: key)
            else { continue }
            let candidate = CacheKey(method: .GET, scheme: key.scheme, authority: key.authority, target: target)
            if !keys.contains(candidate) { keys.append(candidate) }
        }
        return keys
    }

    static let safeMethods: [HTTPMethod] = [.GET, .HEAD, .OPTIONS, .TRACE]

    /// The path and query of a URI reference when it resolves to the same origin as `base`.
    static func sameOriginTarget(_ reference: String, base: CacheKey) -> String? {
        let reference = String(Substring(reference).trimmingOWS())
        if let absolute = try? HTTPURL(reference, schemes: [.http, .https]) {
            guard absolute.scheme.rawValue == base.scheme, absolute.authority == base.authority else { return nil }
            return absolute.path
        }
        if reference.hasPrefix("//") { return sameOriginTarget(base.scheme + ":" + reference, base: base) }
        if reference.hasPrefix("/") { return reference }
        guard !reference.isEmpty else { return nil }
        if let colon = reference.firstIndex(of: ":"),
            !reference[..<colon].contains(where: { $0 == "/" || $0 == "?" || $0 == "#" })
        {
            return nil  // another scheme
        }
        let basePath = base.target.prefix { $0 != "?" }
        let directory = basePath[...(basePath.lastIndex(of: "/") ?? basePath.startIndex)]
        return String(directory) + reference
    }
}
