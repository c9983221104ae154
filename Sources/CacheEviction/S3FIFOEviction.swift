/// S3-FIFO eviction (Yang et al., SOSP 2023): a small FIFO queue for new objects, a main FIFO
/// queue for objects reused while in the small one, and a ghost queue of recently evicted keys.
///
/// New objects enter the small queue (or the main one when their key is in the ghost queue).
/// Evicting from the small queue moves objects hit at least ``promotionThreshold`` times to the
/// main queue and drops the others into the ghost queue (which remembers as many keys as the
/// cache tracks objects); evicting from the main queue gives
/// objects with hits another round (their counter decremented). The small queue is evicted
/// while it holds at least ``smallFraction`` of the tracked bytes.
package struct S3FIFOEviction<Key: Hashable & Sendable>: EvictionPolicy {
    private enum Place: Sendable {
        case small(Int)
        case main(Int)
    }

    /// The share of tracked bytes the small queue may hold; default 0.1.
    package let smallFraction: Double
    /// Hits in the small queue needed to be moved to the main queue; default 1.
    package let promotionThreshold: UInt8
    private static var maximumCounter: UInt8 { 3 }

    private var small = EvictionList<Key>()
    private var main = EvictionList<Key>()
    private var places: [Key: Place] = [:]
    private var ghost = EvictionList<Key>()
    private var ghostIndex: [Key: Int] = [:]

    /// An empty policy.
    /// - Parameters:
    ///   - smallFraction: the share of bytes for the small queue; default 0.1.
    ///   - promotionThreshold: hits needed to move from the small to the main queue; default 1.
    package init(smallFraction: Double = 0.1, promotionThreshold: UInt8 = 1) {
        self.smallFraction = smallFraction
        self.promotionThreshold = max(1, promotionThreshold)
    }

    package var count: Int { small.count + main.count }
    package var totalSize: UInt64 { small.totalSize + main.totalSize }

    package mutating func insert(_ key: Key, size: UInt64) {
        switch places[key] {
        case .small(let node):
            small.resize(node, to: size)
            Self.bump(&small, node)
        case .main(let node):
            main.resize(node, to: size)
            Self.bump(&main, node)
        case nil:
            if let ghostNode = ghostIndex.removeValue(forKey: key) {
                ghost.remove(at: ghostNode)
                places[key] = .main(main.pushFront(key, size: size))
            } else {
                places[key] = .small(small.pushFront(key, size: size))
            }
        }
    }

    package mutating func insert(_ key: Key, size: UInt64, at stamp: Int64) {
        insert(key, size: size)
    }

    package mutating func access(_ key: Key) {
        switch places[key] {
        case .small(let node): Self.bump(&small, node)
        case .main(let node): Self.bump(&main, node)
        case nil: break
        }
    }

    package mutating func remove(_ key: Key) {
        switch places.removeValue(forKey: key) {
        case .small(let node): small.remove(at: node)
        case .main(let node): main.remove(at: node)
        case nil: break
        }
    }

    package mutating func evict(observing observe: (Key) -> ObservedUse) -> Key? {
        while count > 0 {
            let smallOverShare = Double(small.totalSize) >= smallFraction * Double(totalSize)
            if small.count > 0 && (smallOverShare || main.count == 0) {
                if let victim = evictFromSmall(observe) { return victim }
            } else if let victim = evictFromMain(observe) {
                return victim
            }
        }
        return nil
    }

    package func contains(_ key: Key) -> Bool { places[key] != nil }

    // Moves the back of the small queue to the main queue (returning nil) or evicts it into the ghost queue.
    private mutating func evictFromSmall(_ observe: (Key) -> ObservedUse) -> Key? {
        let node = small.back
        Self.bump(&small, node, by: observe(small[node].key!).hits)
        let entry = small[node]
        let key = small.remove(at: node)
        if entry.counter >= promotionThreshold {
            places[key] = .main(main.pushFront(key, size: entry.size))
            return nil
        }
        places[key] = nil
        ghostIndex[key] = ghost.pushFront(key, size: 0)
        // The ghost queue remembers as many keys as the cache holds objects (its capacity in
        // objects is not known when eviction is driven by a full volume).
        while ghost.count > max(1, count) {
            ghostIndex[ghost.remove(at: ghost.back)] = nil
        }
        return key
    }

    // Gives the back of the main queue another round if it was hit, else evicts it.
    private mutating func evictFromMain(_ observe: (Key) -> ObservedUse) -> Key? {
        while main.count > 0 {
            let node = main.back
            Self.bump(&main, node, by: observe(main[node].key!).hits)
            if main[node].counter > 0 {
                main[node].counter -= 1
                main.moveToFront(node)
            } else {
                let key = main.remove(at: node)
                places[key] = nil
                return key
            }
        }
        return nil
    }

    private static func bump(_ list: inout EvictionList<Key>, _ node: Int, by hits: Int = 1) {
        guard hits > 0 else { return }
        list[node].counter = UInt8(min(Int(list[node].counter) + hits, Int(Self.maximumCounter)))
    }
}
