/// SIEVE eviction (Zhang et al., NSDI 2024): one FIFO queue with a visited bit per object and a
/// hand that moves from the back towards the front, clearing visited bits and evicting the
/// first unvisited object. Hits only set a bit, so they never reorder the queue.
package struct SIEVEEviction<Key: Hashable & Sendable>: EvictionPolicy {
    private var list = EvictionList<Key>()
    private var index: [Key: Int] = [:]
    private var hand = -1

    /// An empty policy.
    package init() {}

    package var count: Int { list.count }
    package var totalSize: UInt64 { list.totalSize }

    package mutating func insert(_ key: Key, size: UInt64) {
        if let node = index[key] {
            list.resize(node, to: size)
            list[node].counter = 1
        } else {
            index[key] = list.pushFront(key, size: size)
        }
    }

    package mutating func insert(_ key: Key, size: UInt64, at stamp: Int64) {
        insert(key, size: size)
    }

    package mutating func access(_ key: Key) {
        if let node = index[key] { list[node].counter = 1 }
    }

    package mutating func remove(_ key: Key) {
        guard let node = index.removeValue(forKey: key) else { return }
        if hand == node { hand = list[node].previous }
        list.remove(at: node)
    }

    package mutating func evict(observing observe: (Key) -> ObservedUse) -> Key? {
        guard list.count > 0 else { return nil }
        var current = hand >= 0 ? hand : list.back
        while true {
            let hit = observe(list[current].key!).hits > 0
            guard list[current].counter != 0 || hit else { break }
            list[current].counter = 0
            current = list[current].previous >= 0 ? list[current].previous : list.back
        }
        hand = list[current].previous
        let key = list.remove(at: current)
        index[key] = nil
        return key
    }

    package func contains(_ key: Key) -> Bool { index[key] != nil }
}
