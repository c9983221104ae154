/// An eviction policy: which stored object to drop when the volume or its hash table is full.
///
/// Every operation is O(1) (amortised for ``evict(observing:)``; O(log n) for LRU, which orders by last-use stamps) and deterministic: the same sequence of
/// calls always yields the same victims. Sizes are in bytes.
package protocol EvictionPolicy<Key>: Sendable {
    /// The key of an object, usually its ``CacheDigest``.
    associatedtype Key: Hashable & Sendable

    /// The number of tracked objects.
    var count: Int { get }
    /// The sum of the sizes of the tracked objects.
    var totalSize: UInt64 { get }

    /// Records a newly stored object; an already tracked key counts as an access and takes the new size.
    mutating func insert(_ key: Key, size: UInt64)
    /// Records a hit on `key`; unknown keys are ignored.
    mutating func access(_ key: Key)
    /// Stops tracking `key` (purged, invalidated or replaced out of band).
    mutating func remove(_ key: Key)
    /// Records a newly stored object used at `stamp` (the unit of ``ObservedUse/lastUse``).
    mutating func insert(_ key: Key, size: UInt64, at stamp: Int64)
    /// Chooses a victim as ``evict()`` does, first asking `observe` what happened to each
    /// candidate outside the policy (hits the serving threads counted without a lock) and
    /// treating it as accesses; so hits need not be reported one by one.
    mutating func evict(observing observe: (Key) -> ObservedUse) -> Key?
    /// Whether `key` is tracked.
    func contains(_ key: Key) -> Bool
}

/// What the serving threads recorded about an object since the policy last asked.
package struct ObservedUse: Sendable, Equatable {
    /// Hits since the last observation.
    package var hits: Int
    /// When it was last used (any monotonic unit shared with the insert stamps); 0 when unknown.
    package var lastUse: Int64

    /// Creates an observation.
    package init(hits: Int, lastUse: Int64) {
        self.hits = hits
        self.lastUse = lastUse
    }

    /// Nothing happened.
    package static let unused = ObservedUse(hits: 0, lastUse: 0)
}

/// An object found in the volume at start, to rebuild eviction state.
package struct EvictionRecord<Key: Hashable & Sendable>: Sendable {
    /// The object's key.
    package var key: Key
    /// The object's size in bytes.
    package var size: UInt64
    /// When it was last used (or stored, if the volume keeps no access time), in any monotonic unit.
    package var lastUse: Int64

    /// Creates a record.
    package init(key: Key, size: UInt64, lastUse: Int64) {
        self.key = key
        self.size = size
        self.lastUse = lastUse
    }
}

extension EvictionPolicy {
    /// Chooses a victim with no hits recorded outside the policy.
    package mutating func evict() -> Key? {
        evict(observing: { _ in .unused })
    }

    /// Inserts `records` oldest first (ties keep their given order), so the state after a
    /// restart orders objects as their last use did.
    package mutating func rebuild(from records: [EvictionRecord<Key>]) {
        let ordered = records.enumerated().sorted { a, b in
            a.element.lastUse != b.element.lastUse ? a.element.lastUse < b.element.lastUse : a.offset < b.offset
        }
        for (_, record) in ordered { insert(record.key, size: record.size) }
    }
}
