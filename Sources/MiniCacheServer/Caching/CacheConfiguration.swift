/// How the cache applies RFC 9111: the choices the RFC leaves to a cache.
package struct CacheConfiguration: Sendable, Equatable {
    /// Whether this is a shared cache (RFC 9111 §1): honours `s-maxage`, `proxy-revalidate`,
    /// refuses `private` and applies the `Authorization` rule of §3.5. Default `true` (a CDN node).
    package var isShared: Bool

    /// Fraction of the time since `Last-Modified` used as heuristic freshness (RFC 9111 §4.2.2).
    /// Default 0.1, the RFC's suggestion.
    package var heuristicFraction: Double

    /// Upper bound of a heuristic freshness lifetime in seconds. Default 86,400 (one day).
    package var heuristicLimit: Int64

    /// Whether a response with neither explicit freshness, heuristic freshness nor a validator
    /// is stored. Such a response can never be reused without a new full fetch, so the default
    /// is `false`.
    package var storesUnvalidatableResponses: Bool

    /// Whether `206 Partial Content` responses with one byte range are stored, served to the
    /// ranges inside them and completed from the origin (RFC 9111 §3.3, §3.4); the cache then
    /// forwards a miss's `Range` instead of fetching the whole response. Default `true`.
    package var storesPartialContent: Bool

    /// Targeted cache-control fields this cache obeys instead of `Cache-Control` and `Expires`
    /// (RFC 9213 §2.1), first match wins, and never forwards to clients. Default
    /// `CDN-Cache-Control` (this is a CDN's cache); `Surrogate-Control` is opt-in.
    package var targetedFields: [TargetedField]

    /// Creates a configuration.
    /// - Parameters:
    ///   - isShared: shared-cache semantics; default `true`.
    ///   - heuristicFraction: heuristic freshness fraction of the `Last-Modified` age; default 0.1.
    ///   - heuristicLimit: heuristic freshness cap in seconds; default one day.
    ///   - storesUnvalidatableResponses: store responses without freshness or validators; default `false`.
    ///   - storesPartialContent: store 206 responses and forward the `Range` of misses; default `true`.
    ///   - targetedFields: targeted cache-control fields obeyed; default `CDN-Cache-Control`.
    package init(
        isShared: Bool = true,
        heuristicFraction: Double = 0.1,
        heuristicLimit: Int64 = 86_400,
        storesUnvalidatableResponses: Bool = false,
        storesPartialContent: Bool = true,
        targetedFields: [TargetedField] = [.cdnCacheControl]
    ) {
        self.targetedFields = targetedFields
        self.isShared = isShared
        self.heuristicFraction = heuristicFraction
        self.heuristicLimit = heuristicLimit
        self.storesUnvalidatableResponses = storesUnvalidatableResponses
        self.storesPartialContent = storesPartialContent
    }
}
