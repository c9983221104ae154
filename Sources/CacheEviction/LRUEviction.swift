import HeapModule

/// Least-recently-used eviction: the object whose last use is oldest goes first.
///
/// Objects are ordered by a last-use stamp: the policy's own counter for ``insert(_:size:)`` and
/// ``access(_:)``, or the caller's clock for ``insert(_:size:at:)`` and the uses
/// ``evict(observing:)`` learns about. A min-heap holds (stamp, key); a use pushes a newer pair
/// and the older one is skipped when it surfaces, so hits observed lazily still evict in exact
/// last-use order. O(log n) per operation.
package struct LRUEviction<Key: Hashable & Sendable>: EvictionPolicy {
    private struct Item: Comparable, Sendable {
        var stamp: Int64
        var sequence: UInt64
        var key: Key

        static func < (a: Item, b: Item) -> Bool {
            a.stamp != b.stamp ? a.stamp < b.stamp : a.sequence < b.sequence
        }

        static func == (a: Item, b: Item) -> Bool {
            a.stamp == b.stamp && a.sequence == b.sequence
        }
    }

    private struct Tracked: Sendable {
        var size: UInt64
        var stamp: Int64
        var sequence: UInt64
    }

    private var heap = Heap<Item>()
    private var tracked: [Key: Tracked] = [:]
    private var clock: Int64 = 0
    private var sequence: UInt64 = 0
    package private(set) var totalSize: UInt64 = 0

    /// An empty policy.
    package init() {}

    package var count: Int { tracked.count }

    package mutating func insert(_ key: Key, size: UInt64) {
        insert(key, size: size, at: clock + 1)
    }

    package mutating func insert(_ key: Key, size: UInt64, at stamp: Int64) {
        if let old = tracked[key] { totalSize -= old.size }
        totalSize += size
        use(key, size: size, at: stamp)
    }

    package mutating func access(_ key: Key) {
        if let current = tracked[key] { use(key, size: current.size, at: clock + 1) }
    }

    package mutating func remove(_ key: Key) {
        if let old = tracked.removeValue(forKey: key) { totalSize -= old.size }
    }

    package mutating func evict(observing observe: (Key) -> ObservedUse) -> Key? {
        while let item = heap.popMin() {
            guard let current = tracked[item.key], current.sequence == item.sequence else { continue }
            let seen = observe(item.key)
            if seen.lastUse > current.stamp {
                use(item.key, size: current.size, at: seen.lastUse)
                continue
            }
            if seen.hits > 0 {
                use(item.key, size: current.size, at: clock + 1)
                continue
            }
            tracked[item.key] = nil
            totalSize -= current.size
            return item.key
        }
        return nil
    }

    package func contains(_ key: Key) -> Bool { tracked[key] != nil }

    private mutating func use(_ key: Key, size: UInt64, at stamp: Int64) {
        clock = max(clock, stamp)
        sequence += 1
        tracked[key] = Tracked(size: size, stamp: stamp, sequence: sequence)
        heap.insert(Item(stamp: stamp, sequence: sequence, key: key))
        if heap.count > 2 * tracked.count + 64 {
            heap = Heap(tracked.map { Item(stamp: $0.value.stamp, sequence: $0.value.sequence, key: $0.key) })
        }
    }
}
