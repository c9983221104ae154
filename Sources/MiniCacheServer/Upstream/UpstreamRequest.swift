import SHFS

/// A response to relay from upstream, as a responder plans it.
///
/// Indirect: a plan or an outcome that can hold one is as large as its largest case, and the
/// plans of every request are moved around by value; a relay pays for one box instead.
package indirect enum UpstreamRequest {
    /// A raw or auto link of the volume: the remote host's `200` is relayed with the object's fields.
    case link(Link, PreparedObject)
    /// The cache's request to its origin: a miss, a revalidation or a pass-through.
    case cache(CacheExchange)
}
