/// How the cache answered, as sent in `X-Cache`.
package enum CacheLabel: Sendable, Equatable {
    /// A stored response, fresh (or stale as the request allows).
    case hit
    /// A stale stored response: served while revalidating, or because the origin failed.
    case stale
    /// A stored response the origin just confirmed with `304`.
    case revalidated
    /// The origin's response, fetched because nothing usable was stored.
    case miss
    /// The origin's response to another request's miss, which this request joined while it was
    /// in flight (request coalescing): one origin fetch served both.
    case coalesced
    /// The origin's response to a method the cache forwards as is.
    case pass

    package var text: StaticString {
        switch self {
        case .hit: "HIT"
        case .stale: "STALE"
        case .revalidated: "REVALIDATED"
        case .miss: "MISS"
        case .coalesced: "COALESCED"
        case .pass: "PASS"
        }
    }
}
