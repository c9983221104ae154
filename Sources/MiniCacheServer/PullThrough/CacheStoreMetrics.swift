import Metrics
import Synchronization

/// What the cache store has done, for `/admin/status`, mirrored into swift-metrics handles
/// created once.
package final class CacheStoreMetrics: Sendable {
    /// Why a write was not kept.
    package enum Failure: String, Sendable, CaseIterable {
        /// Larger than the store keeps (``CacheStoreConfiguration/maxObjectShare``).
        case tooLarge = "too_large"
        /// No room could be made (operator content fills the volume or the bucket, or space is
        /// still held by responses in flight).
        case full
        /// The volume could not be written.
        case io
        /// An object of the operator has the same digest.
        case conflict
        /// Writes waiting for the volume already hold ``CacheStoreConfiguration/maxQueuedBytes``
        /// (the disk is slower than the fills): the response is relayed without being kept.
        case busy
    }

    /// Why an object was evicted.
    package enum EvictionReason: String, Sendable, CaseIterable {
        /// The data area had no free extent for a new object.
        case space
        /// The new object's hash bucket had no free slot.
        case bucket
    }

    private let storedCounter: Counter
    private let failureCounters: [Failure: Counter]
    private let evictionCounters: [EvictionReason: Counter]
    private let purgeCounter: Counter
    private let objectsGauge: Gauge
    private let bytesGauge: Gauge
    private let state = Mutex(Snapshot())

    /// The counts since start, and what is stored now.
    package struct Snapshot: Sendable, Equatable {
        package var stored = 0
        package var failures: [Failure: Int] = [:]
        package var evictions: [EvictionReason: Int] = [:]
        package var purged = 0
        package var removed = 0
        package var objects = 0
        package var bytes: Int64 = 0
        package var quarantinedBytes: Int64 = 0
    }

    package init(factory: any MetricsFactory) {
        self.storedCounter = Counter(label: "minicache_cache_stored_total", factory: factory)
        self.failureCounters = Dictionary(uniqueKeysWithValues: Failure.allCases.map {
            ($0, Counter(label: "minicache_cache_store_failures_total", dimensions: [("reason", $0.rawValue)], factory: factory))
        })
        self.evictionCounters = Dictionary(uniqueKeysWithValues: EvictionReason.allCases.map {
            ($0, Counter(label: "minicache_cache_evictions_total", dimensions: [("reason", $0.rawValue)], factory: factory))
        })
        self.purgeCounter = Counter(label: "minicache_cache_purged_total", factory: factory)
        self.objectsGauge = Gauge(label: "minicache_cache_objects", factory: factory)
        self.bytesGauge = Gauge(label: "minicache_cache_bytes", factory: factory)
    }

    package var snapshot: Snapshot { self.state.withLock { $0 } }

    func stored() {
        self.state.withLock { $0.stored += 1 }
        self.storedCounter.increment()
    }

    func failed(_ failure: Failure) {
        self.state.withLock { $0.failures[failure, default: 0] += 1 }
        self.failureCounters[failure]!.increment()
    }

    func evicted(_ reason: EvictionReason) {
        self.state.withLock { $0.evictions[reason, default: 0] += 1 }
        self.evictionCounters[reason]!.increment()
    }

    func purged(_ count: Int) {
        guard count > 0 else { return }
        self.state.withLock { $0.purged += count }
        self.purgeCounter.increment(by: Int64(count))
    }

    func removed(_ count: Int) {
        self.state.withLock { $0.removed += count }
    }

    /// What the store holds now.
    func holding(objects: Int, bytes: Int64, quarantined: Int64) {
        self.state.withLock {
            $0.objects = objects
            $0.bytes = bytes
            $0.quarantinedBytes = quarantined
        }
        self.objectsGauge.record(objects)
        self.bytesGauge.record(bytes)
    }
}
