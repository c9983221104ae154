/// A cache of a fixed number of bytes over one of the eviction policies, driven the way
/// minicache's cache store drives it, so that the simulator's caches make the same choices as
/// the real one: an object enters with the time it was stored, hits are only counted (with the
/// time of the last one) and handed to the policy when it looks for a victim, and a miss
/// evicts until the new object fits.
package struct ByteBoundedCache<Key: Hashable & Sendable>: Sendable {
    private struct Use: Sendable {
        var size: UInt64
        var hits: Int
        var lastUse: Int64
    }

    private var policy: any EvictionPolicy<Key>
    private var uses: [Key: Use] = [:]
    /// Bytes the cache may hold.
    package var capacity: UInt64
    /// Bytes it holds.
    package private(set) var usedBytes: UInt64 = 0
    /// Objects evicted so far.
    package private(set) var evictions = 0

    /// An empty cache.
    package init(policy: any EvictionPolicy<Key>, capacity: UInt64) {
        self.policy = policy
        self.capacity = capacity
    }

    /// Objects held.
    package var count: Int { uses.count }

    /// Whether `key` is held.
    package func contains(_ key: Key) -> Bool { uses[key] != nil }

    /// A request for `key` (of `size` bytes) at `stamp` (any unit that grows with time): a hit
    /// counts the use and returns true; a miss stores the object, evicting until it fits, and
    /// returns false. An object larger than the whole cache is not stored.
    @discardableResult
    package mutating func request(_ key: Key, size: UInt64, at stamp: Int64) -> Bool {
        if var use = uses[key] {
            use.hits += 1
            use.lastUse = stamp
            uses[key] = use
            return true
        }
        guard size <= capacity else { return false }
        makeRoom(for: size)
        uses[key] = Use(size: size, hits: 0, lastUse: stamp)
        usedBytes += size
        policy.insert(key, size: size, at: stamp)
        return false
    }

    /// Evicts until `size` more bytes fit (also after the capacity shrank).
    package mutating func makeRoom(for size: UInt64 = 0) {
        guard usedBytes + size > capacity else { return }
        // The policy asks about candidates while it is being changed: hand it a local copy.
        var uses = self.uses
        self.uses = [:]
        defer { self.uses = uses }
        while usedBytes + size > capacity {
            // What the policy observes is consumed, as the store's `seenHits` are.
            guard let victim = policy.evict(observing: { key in
                guard let use = uses[key] else { return .unused }
                uses[key]?.hits = 0
                return ObservedUse(hits: use.hits, lastUse: use.lastUse)
            }) else { break }
            if let gone = uses.removeValue(forKey: victim) { usedBytes -= gone.size }
            evictions += 1
        }
    }

    /// Forgets every object (a cache that restarts cold).
    package mutating func removeAll(policy: any EvictionPolicy<Key>) {
        self.policy = policy
        uses = [:]
        usedBytes = 0
    }
}
