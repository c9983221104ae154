/// Least-recently-used eviction: a hit moves the object to the front, the back is evicted.
package struct LRUEviction<Key: Hashable & Sendable>: EvictionPolicy {
    private var list = EvictionList<Key>()
    private var index: [Key: Int] = [:]

    /// An empty policy.
    package init() {}

    package var count: Int { list.count }
    package var totalSize: UInt64 { list.totalSize }

    package mutating func insert(_ key: Key, size: UInt64) {
        if let node = index[key] {
            list.resize(node, to: size)
            list.moveToFront(node)
        } else {
            index[key] = list.pushFront(key, size: size)
        }
    }

    package mutating func access(_ key: Key) {
        if let node = index[key] { list.moveToFront(node) }
    }

    package mutating func remove(_ key: Key) {
        if let node = index.removeValue(forKey: key) { list.remove(at: node) }
    }

    package mutating func evict() -> Key? {
        guard list.back >= 0 else { return nil }
        let key = list.remove(at: list.back)
        index[key] = nil
        return key
    }

    package func contains(_ key: Key) -> Bool { index[key] != nil }
}
