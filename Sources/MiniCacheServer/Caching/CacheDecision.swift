import NIOHTTP1

/// What to do with a request given what the cache holds (RFC 9111 §4).
package enum CacheDecision: Sendable, Equatable {
    /// Serve the stored response; `age` is the `Age` value to send.
    case fresh(age: Int64)
    /// Serve the stale stored response now and revalidate it in the background
    /// (`stale-while-revalidate`, RFC 5861 §3).
    case staleWhileRevalidate(age: Int64, conditions: HTTPHeaders)
    /// Serve the stale stored response because the request's `max-stale` accepts it (§5.2.1.2).
    case staleAcceptedByRequest(age: Int64)
    /// Forward the request with these conditional headers (possibly none, when the stored
    /// response has no validator); a 304 updates and serves the stored response (§4.3).
    case revalidate(conditions: HTTPHeaders)
    /// Nothing stored is usable: forward the request.
    case miss
    /// `only-if-cached` and nothing usable: answer 504 (§5.2.1.7).
    case gatewayTimeout
}
