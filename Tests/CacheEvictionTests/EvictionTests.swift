import CacheEviction
import Testing
import Workload

struct EvictionTests {
    func drain<P: EvictionPolicy>(_ policy: inout P) -> [P.Key] {
        var order: [P.Key] = []
        while let key = policy.evict() { order.append(key) }
        return order
    }

    @Test("LRU evicts the least recently used object first")
    func lru() {
        var lru = LRUEviction<Int>()
        for key in 1...4 { lru.insert(key, size: 10) }
        lru.access(1)
        lru.access(3)
        #expect(lru.totalSize == 40)
        #expect(drain(&lru) == [2, 4, 1, 3])
        #expect(lru.totalSize == 0)
    }

    @Test("LRU: re-inserting counts as a use and takes the new size; removed keys are never evicted")
    func lruReinsertAndRemove() {
        var lru = LRUEviction<String>()
        lru.insert("a", size: 1)
        lru.insert("b", size: 2)
        lru.insert("c", size: 3)
        lru.insert("a", size: 100)
        lru.remove("b")
        #expect(lru.totalSize == 103)
        #expect(!lru.contains("b"))
        #expect(drain(&lru) == ["c", "a"])
    }

    @Test("S3-FIFO evicts one-hit objects from the small queue before objects reused there")
    func s3fifoOneHitWonders() {
        var policy = S3FIFOEviction<Int>()
        for key in 1...10 { policy.insert(key, size: 1) }
        policy.access(2)
        policy.access(5)
        // 2 and 5 move to the main queue while the small queue is evicted.
        let first = (0..<8).compactMap { _ in policy.evict() }
        #expect(first == [1, 3, 4, 6, 7, 8, 9, 10])
        #expect(policy.contains(2) && policy.contains(5))
        #expect(drain(&policy) == [2, 5])
    }

    @Test("S3-FIFO re-admits a key found in the ghost queue straight into the main queue")
    func s3fifoGhost() {
        var policy = S3FIFOEviction<Int>()
        for key in 1...10 { policy.insert(key, size: 1) }
        policy.access(10)
        #expect(policy.evict() == 1)  // 1 goes to the ghost queue
        #expect(policy.evict() == 2)
        policy.insert(1, size: 1)  // ghost hit: main queue
        for key in 11...30 { policy.insert(key, size: 1) }
        var evicted: [Int] = []
        for _ in 0..<20 { if let key = policy.evict() { evicted.append(key) } }
        #expect(!evicted.contains(1))
        #expect(policy.contains(1))
    }

    @Test("S3-FIFO gives hit objects in the main queue another round")
    func s3fifoMainReinsertion() {
        var policy = S3FIFOEviction<Int>(smallFraction: 0.1)
        for key in 1...3 { policy.insert(key, size: 1) }
        for key in 1...3 { policy.access(key) }
        // All three are promoted to the main queue and the oldest goes; then 2 is hit there.
        #expect(policy.evict() == 1)
        policy.access(2)
        #expect(drain(&policy) == [3, 2])
    }

    @Test("SIEVE keeps visited objects and evicts the first unvisited one from the back")
    func sieve() {
        var sieve = SIEVEEviction<Int>()
        for key in 1...5 { sieve.insert(key, size: 1) }
        sieve.access(1)
        sieve.access(3)
        #expect(sieve.evict() == 2)
        sieve.insert(6, size: 1)
        #expect(sieve.evict() == 4)
        #expect(sieve.evict() == 5)
        // The hand wraps: 1 and 3 had their bits cleared on the way, 6 is newest.
        #expect(drain(&sieve) == [6, 1, 3])
    }

    @Test("eviction is deterministic and rebuilt state follows the last use", arguments: ["lru", "s3fifo", "sieve"])
    func rebuild(kind: String) {
        let records = [
            EvictionRecord(key: "c", size: 3, lastUse: 30), EvictionRecord(key: "a", size: 1, lastUse: 10),
            EvictionRecord(key: "b", size: 2, lastUse: 20), EvictionRecord(key: "d", size: 4, lastUse: 20),
        ]
        func run() -> [String] {
            switch kind {
            case "lru":
                var p = LRUEviction<String>()
                p.rebuild(from: records)
                return drain(&p)
            case "s3fifo":
                var p = S3FIFOEviction<String>()
                p.rebuild(from: records)
                return drain(&p)
            default:
                var p = SIEVEEviction<String>()
                p.rebuild(from: records)
                return drain(&p)
            }
        }
        let order = run()
        #expect(order == ["a", "b", "d", "c"])
        #expect(run() == order)
    }

    @Test("LRU over observed last-use stamps evicts in exact last-use order, whatever order it learns them in")
    func lruObserved() {
        var lru = LRUEviction<String>()
        for (i, key) in ["a", "b", "c", "d"].enumerated() { lru.insert(key, size: 1, at: Int64(10 + i)) }
        // Hits the policy was not told about: c at 50, then a at 60.
        var stamps: [String: Int64] = ["c": 50, "a": 60]
        func observe(_ key: String) -> ObservedUse {
            defer { stamps[key] = nil }
            return stamps[key].map { ObservedUse(hits: 1, lastUse: $0) } ?? .unused
        }
        var order: [String] = []
        while let key = lru.evict(observing: observe) { order.append(key) }
        #expect(order == ["b", "d", "c", "a"])
    }

    @Test("S3-FIFO and SIEVE count observed hits like reported ones")
    func observedHitsCount() {
        var sieve = SIEVEEviction<Int>()
        var s3 = S3FIFOEviction<Int>()
        for key in 1...5 {
            sieve.insert(key, size: 1)
            s3.insert(key, size: 1)
        }
        var hits: Set<Int> = [1, 3]
        let observe: (Int) -> ObservedUse = { key in
            hits.remove(key) != nil ? ObservedUse(hits: 1, lastUse: 0) : .unused
        }
        #expect(sieve.evict(observing: observe) == 2)
        hits = [1, 3]
        #expect(s3.evict(observing: observe) == 2)
        #expect(s3.contains(1) && s3.contains(3))
    }

    @Test("every policy evicts each tracked key exactly once under a random workload", arguments: ["lru", "s3fifo", "sieve"])
    func exactlyOnce(kind: String) {
        var generator = RandomSource(seed: 42)
        func exercise<P: EvictionPolicy<Int>>(_ policy: inout P) {
            var live = Set<Int>()
            for _ in 0..<20_000 {
                let key = Int(generator.next() % 500)
                switch generator.next() % 4 {
                case 0, 1:
                    policy.insert(key, size: UInt64(key + 1))
                    live.insert(key)
                case 2:
                    policy.access(key)
                default:
                    if let victim = policy.evict() {
                        #expect(live.remove(victim) != nil)
                    }
                }
                #expect(policy.count == live.count)
            }
            let rest = drain(&policy)
            #expect(Set(rest) == live)
            #expect(rest.count == live.count)
            #expect(policy.totalSize == 0)
        }
        switch kind {
        case "lru":
            var p = LRUEviction<Int>()
            exercise(&p)
        case "s3fifo":
            var p = S3FIFOEviction<Int>()
            exercise(&p)
        default:
            var p = SIEVEEviction<Int>()
            exercise(&p)
        }
    }
}
