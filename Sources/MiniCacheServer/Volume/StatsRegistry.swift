import Synchronization

/// Per-object counters by digest, and misses by requested key; they outlive remounts.
package final class StatsRegistry: Sendable {
    /// Distinct missed keys remembered; further misses are counted under `(other)`.
    package static let maxMissKeys = 4096

    fileprivate let objects = Mutex<[String: ObjectCounters]>([:])
    private let misses = Mutex<[String: Int]>([:])

    package init() {}

    package func counters(for hexDigest: String) -> ObjectCounters {
        self.objects.withLock { table in
            if let existing = table[hexDigest] { return existing }
            let fresh = ObjectCounters()
            table[hexDigest] = fresh
            return fresh
        }
    }

    package func recordMiss(_ key: String) {
        self.misses.withLock { table in
            if table[key] != nil || table.count < Self.maxMissKeys {
                table[key, default: 0] += 1
            } else {
                table["(other)", default: 0] += 1
            }
        }
    }

    package var missCounts: [String: Int] { self.misses.withLock { $0 } }
}

extension StatsRegistry {
    /// Drops the counters of an object that is gone for good (evicted or purged from the cache).
    package func forget(_ hexDigest: String) {
        self.objects.withLock { _ = $0.removeValue(forKey: hexDigest) }
    }
}
