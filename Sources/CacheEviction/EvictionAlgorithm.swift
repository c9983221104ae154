/// The eviction policies by name, for callers that choose one at run time (the simulator's
/// scenarios).
package enum EvictionAlgorithm: String, Sendable, CaseIterable {
    /// ``LRUEviction``.
    case lru
    /// ``S3FIFOEviction``.
    case s3fifo
    /// ``SIEVEEviction``.
    case sieve

    /// An empty policy of this kind.
    package func makePolicy<Key: Hashable & Sendable>(for key: Key.Type = Key.self) -> any EvictionPolicy<Key> {
        switch self {
        case .lru: LRUEviction<Key>()
        case .s3fifo: S3FIFOEviction<Key>()
        case .sieve: SIEVEEviction<Key>()
        }
    }
}
