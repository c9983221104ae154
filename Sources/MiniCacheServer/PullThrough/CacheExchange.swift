import HTTPToolkit
import NIOHTTP1

/// A request the cache sends to its origin, and what the answer is for.
package struct CacheExchange {
    package enum Kind: Sendable {
        /// Nothing usable is stored: fetch, relay and store.
        case miss
        /// A stored response is revalidated with a conditional request (RFC 9111 §4.3.1).
        case revalidation
        /// Another method: forwarded as is, never stored; an unsafe one invalidates (§4.4).
        case passThrough
    }

    package let kind: Kind
    /// The client's request as received.
    package let request: HTTPRequestHead
    /// The request sent to the origin.
    package let forwarded: OriginRequest
    package let key: CacheKey
    package let origin: OriginAddress
    package let lookup: PullThroughCache.Lookup
    /// The stored response of `lookup.object`, if any.
    package let stored: StoredResponse?
    package let requestTime: Int64
    /// The shared fill the exchange starts or joins (one origin request per key: misses are
    /// keyed by digest, revalidations apart so a `304` never reaches a client that needs a
    /// body); nil for an exchange sent on its own.
    package var fillKey: String?
    /// The stored partial response this exchange completes with a request for the rest of it
    /// (RFC 9111 §3.4); nil for any other exchange.
    package var prefix: StoredPrefix? = nil
}
