import CacheEviction

/// Which objects a full cache evicts first.
package enum EvictionKind: String, Sendable, CaseIterable {
    /// Least recently used.
    case lru
    /// S3-FIFO: one-hit objects leave quickly from a small FIFO queue.
    case s3fifo
    /// SIEVE: a FIFO queue whose hand skips objects hit since it last passed.
    case sieve

    /// An empty policy of this kind.
    func makePolicy() -> any EvictionPolicy<[UInt8]> {
        switch self {
        case .lru: LRUEviction<[UInt8]>()
        case .s3fifo: S3FIFOEviction<[UInt8]>()
        case .sieve: SIEVEEviction<[UInt8]>()
        }
    }
}

/// Settings of a ``CacheStore``. Every value has a default that works.
package struct CacheStoreConfiguration: Sendable {
    /// The eviction policy. Default ``EvictionKind/lru``.
    package var eviction: EvictionKind
    /// The largest share of the volume's data area one object may take; larger responses are
    /// relayed without being stored (storing one would evict much of the cache). Default 1/4.
    package var maxObjectShare: Double
    /// How long a write waits for responses in flight to let go of the chunks of objects it
    /// evicted before it evicts more. Default 100 ms.
    package var quarantineWait: Duration
    /// Bytes of responses waiting to be written at most; a fill beyond it is relayed without
    /// being kept, so a disk slower than the origin never makes the queue grow without bound.
    /// Default 64 MiB.
    package var maxQueuedBytes: Int
    /// Writes committed together at most (one pair of syncs for all). Default 64.
    package var maxBatch: Int

    package init(
        eviction: EvictionKind = .lru, maxObjectShare: Double = 0.25, quarantineWait: Duration = .milliseconds(100),
        maxQueuedBytes: Int = 64 << 20, maxBatch: Int = 64
    ) {
        self.eviction = eviction
        self.maxObjectShare = maxObjectShare
        self.quarantineWait = quarantineWait
        self.maxQueuedBytes = maxQueuedBytes
        self.maxBatch = maxBatch
    }
}
