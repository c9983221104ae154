/// The parts of an `http` or `https` URI that a cache key and invalidation need.
package struct AbsoluteURI: Sendable, Equatable {
    /// Lower-cased scheme.
    package var scheme: String
    /// Authority as written (host and optional port).
    package var authority: String
    /// Path and query, `/` when empty.
    package var target: String

    /// Parses `http://authority/target` or `https://…`; `nil` for anything else.
    package init?(_ string: String) {
        let lower = string.prefix(8).lowercased()
        let scheme: String
        if lower.hasPrefix("http://") {
            scheme = "http"
        } else if lower.hasPrefix("https://") {
            scheme = "https"
        } else {
            return nil
        }
        let rest = string.dropFirst(scheme.count + 3)
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = rest[..<end]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        guard !authority.isEmpty else { return nil }
        var target = String(rest[end...])
        if target.hasPrefix("?") { target = "/" + target }
        if target.isEmpty || target.hasPrefix("#") { target = "/" }
        self.scheme = scheme
        self.authority = String(authority)
        self.target = target
    }
}
