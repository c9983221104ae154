import CacheEviction

extension Simulation {
    /// One request for a VoD object at a cache, in arrival order (for the miss-ratio curves).
    struct ObjectRequest {
        /// The cache (a new number for every cold start).
        var cache: Int32
        var key: Int
        var size: UInt64
        /// Counted in the figures (not a warm-start viewer).
        var counted: Bool
    }

    /// VoD caches hold objects in finite storage and evict with minicache's policies.
    var objectStorage: Bool {
        scenario.workload.mode == .vod && scenario.caches.mode != .none && scenario.caches.storage != nil
    }

    /// The storage that serves instance `id`: its site's, or its own with per-content instances.
    func storageKey(of id: Int32) -> Int {
        let instance = instances[Int(id)]
        if scenario.caches.instances == .perContent && instance.content >= 0 { return topology.count + Int(id) }
        return Int(instance.node)
    }

    /// A viewer starts downloading from its instance: a hit is served from storage, a miss is
    /// stored (evicting as the policy says) and filled from upstream. Returns whether it hit.
    func requestObject(_ v: Int32) -> Bool {
        let viewer = viewers[Int(v)]
        let id = viewer.instance
        let node = Int(instances[Int(id)].node)
        let key = storageKey(of: id)
        let shared = key < topology.count
        let capacity = UInt64(scenario.caches.storage! * Double(shared ? max(1, pools[node].running) : 1))
        if objectCaches[key] == nil {
            objectCaches[key] = ByteBoundedCache(policy: evictionAlgorithm.makePolicy(), capacity: capacity)
            cacheGeneration[key] = Int32(cacheGeneration.count + retiredCaches)
        }
        objectCaches[key]!.capacity = capacity
        let object = Int(viewer.content) << 4 | Int(viewer.bitrateIndex)
        let size = UInt64(objectDuration[Int(viewer.content)] * viewer.bitrate)
        let hit = objectCaches[key]!.request(object, size: size, at: Int64(now * 1e6))
        objectLog.append(ObjectRequest(cache: cacheGeneration[key]!, key: object, size: size, counted: !viewer.warm))
        if !viewer.warm {
            objectRequests += 1
            objectBytes += Double(size)
            if hit {
                objectHits += 1
                objectHitBytes += Double(size)
            }
        }
        return hit
    }

    /// A cache stopped: it starts cold next time.
    func dropStorage(_ key: Int) {
        guard objectCaches.removeValue(forKey: key) != nil else { return }
        cacheGeneration[key] = nil
        retiredCaches += 1
    }

    var evictionAlgorithm: EvictionAlgorithm {
        switch scenario.caches.eviction {
        case .lru: .lru
        case .s3fifo: .s3fifo
        case .sieve: .sieve
        }
    }

    /// Miss ratios of every policy at storage sizes around the configured one, replaying the
    /// run's requests at each cache (one storage per cache, cold at each start).
    func missRatioCurves() -> [SimulationResult.MissRatioPoint] {
        guard let storage = scenario.caches.storage, !objectLog.isEmpty else { return [] }
        var points: [SimulationResult.MissRatioPoint] = []
        for factor in [0.25, 0.5, 1, 2, 4] {
            let capacity = UInt64(storage * factor)
            for algorithm in EvictionAlgorithm.allCases {
                var caches: [Int32: ByteBoundedCache<Int>] = [:]
                var requests = 0
                var misses = 0
                var bytes = 0.0
                var missBytes = 0.0
                for (i, r) in objectLog.enumerated() {
                    let hit = caches[r.cache, default: ByteBoundedCache(policy: algorithm.makePolicy(), capacity: capacity)]
                        .request(r.key, size: r.size, at: Int64(i))
                    guard r.counted else { continue }
                    requests += 1
                    bytes += Double(r.size)
                    if !hit {
                        misses += 1
                        missBytes += Double(r.size)
                    }
                }
                points.append(SimulationResult.MissRatioPoint(
                    storage: Double(capacity), policy: algorithm.rawValue,
                    missRatio: requests > 0 ? Double(misses) / Double(requests) : 0,
                    byteMissRatio: bytes > 0 ? missBytes / bytes : 0))
            }
        }
        return points
    }
}
