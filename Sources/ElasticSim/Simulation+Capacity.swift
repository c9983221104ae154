extension Simulation {
    /// One site's cache instances in the capacity model (``Scenario/CacheConfig/InstanceSize``):
    /// 64 bytes, one cache line in an ``AlignedArray`` (a settle reads the pools of every site
    /// whose served rate changed).
    struct SitePool {
        /// The site runs at least one instance.
        var active = false
        /// Shared instances: when the site's first instance is (or was) ready.
        var readyAt = 0.0
        /// Instances running now (a static site: the most it needed so far).
        var running = 0
        /// Since when `running` holds.
        var since = 0.0
        /// When the site last became active.
        var activeSince = 0.0
        /// Per-content instances: the sum of what each of the site's instances needs.
        var contentNeed = 0
        /// The most instances the site needed.
        var peak = 0
        /// Instances booted here.
        var boots = 0
    }

    /// A node's served throughput as every change of its served rate reads it: 32 bytes, so
    /// that the settle after a level shift, which changes the served rate of thousands of sites,
    /// reads one line per site and calls ``Simulation/siteLoadChanged(_:)`` only for those whose
    /// instance count may change.
    struct SiteLoad {
        /// The most bits/s the site served (exact: every change of its served rate is seen).
        var peakThroughput = 0.0
        /// Served bits/s strictly between these need the instances counted at the last
        /// ``Simulation/siteLoadChanged(_:)`` (a site without caches counts none: every rate).
        var keepAbove = -Double.infinity
        var keepBelow = Double.infinity
    }

    /// Instances of the configured size that carry `connections` and `bitsPerSecond`: at least one.
    func instancesNeeded(connections: Int, bitsPerSecond: Double) -> Int {
        let size = scenario.caches.instanceSize
        let byConnections = (connections + size.connections - 1) / size.connections
        let byThroughput = Int((bitsPerSecond / size.capacity * (1 - 1e-12)).rounded(.up))
        return max(1, byConnections, byThroughput)
    }

    /// Boot time of a new content instance at `node`. With shared instances only a site that
    /// runs none waits for one to boot; the others serve the new content at once.
    func bootTime(node: Int, warm: Bool) -> Double {
        if warm || scenario.caches.mode == .static { return 0 }
        guard scenario.caches.instances == .shared else { return scenario.caches.bootTime }
        if pools[node].active { return max(0, pools[node].readyAt - now) }
        pools[node].readyAt = now + scenario.caches.bootTime
        return scenario.caches.bootTime
    }

    /// A site's load or its set of content instances changed: brings its instance count up to
    /// date, counting boots, instance-seconds and site-seconds.
    func siteLoadChanged(_ node: Int) {
        var pool = pools[node]
        // Static mode runs only static instances (the one being placed is not yet recorded).
        let isStatic = scenario.caches.mode == .static
        let active = siteInstances[node] > 0 || staticInstance[node] >= 0
        var need = 0
        if active {
            if scenario.caches.instances == .perContent && !isStatic {
                need = pool.contentNeed
            } else {
                let served = node < net.ownerRate.count ? net.ownerRate[node] * 8 : 0
                need = instancesNeeded(connections: siteConnections[node], bitsPerSecond: served)
            }
        }
        if active != pool.active {
            if active {
                pool.activeSince = now
            } else {
                siteSeconds += now - pool.activeSince
                if objectStorage { dropStorage(node) }
            }
            pool.active = active
        }
        pool.peak = max(pool.peak, need)
        // Static sites are provisioned for their peak: counted once at the end of the run.
        let running = isStatic ? pool.peak : need
        if !isStatic { physicalSeconds += Double(pool.running) * (now - pool.since) }
        if running != pool.running {
            if !isStatic && running > pool.running {
                physicalBoots += running - pool.running
                pool.boots += running - pool.running
            }
            runningPhysical += running - pool.running
            peakPhysical = max(peakPhysical, runningPhysical)
            pool.running = running
        }
        pool.since = now
        pools[node] = pool
        keepInstances(node, active: active, isStatic: isStatic, need: need)
    }

    /// The band of served rates within which `node` needs the `need` instances just counted,
    /// with a relative margin of 1e-9 inside the exact thresholds of ``instancesNeeded(connections:bitsPerSecond:)``:
    /// everything for a site without caches (nothing to count), nothing where the count does not
    /// follow the served rate alone (static sites keep their peak, per-content instances).
    private func keepInstances(_ node: Int, active: Bool, isStatic: Bool, need: Int) {
        guard active else {
            siteLoad[node].keepAbove = -.infinity
            siteLoad[node].keepBelow = .infinity
            return
        }
        guard !isStatic && scenario.caches.instances == .shared else {
            siteLoad[node].keepAbove = .infinity
            siteLoad[node].keepBelow = -.infinity
            return
        }
        let size = scenario.caches.instanceSize
        let byConnections = Swift.max(1, (siteConnections[node] + size.connections - 1) / size.connections)
        // Above its connections' count the need follows the throughput down as well as up.
        siteLoad[node].keepAbove = need > byConnections ? Double(need - 1) * size.capacity * (1 + 1e-9) : -.infinity
        siteLoad[node].keepBelow = Double(need) * size.capacity * (1 - 1e-9)
    }

    /// Changes the connections of a content instance (and what it needs, with per-content
    /// instances).
    func changeConnections(_ id: Int32, by delta: Int) {
        let old = instances[Int(id)].connections
        instances[Int(id)].connections += delta
        guard scenario.caches.instances == .perContent, instances[Int(id)].content >= 0 else { return }
        let node = Int(instances[Int(id)].node)
        pools[node].contentNeed += instancesNeeded(connections: old + delta, bitsPerSecond: 0)
            - instancesNeeded(connections: old, bitsPerSecond: 0)
    }

    /// Closes the books at the end of the run: what is still running counts up to now; static
    /// sites count their peak for the whole run.
    func closeCapacity() {
        for node in pools.indices {
            let pool = pools[node]
            if staticInstance[node] >= 0 {
                physicalSeconds += Double(pool.peak) * now
                physicalBoots += pool.peak
                pools[node].boots = pool.peak
                siteSeconds += now
            } else {
                physicalSeconds += Double(pool.running) * (now - pool.since)
                if pool.active { siteSeconds += now - pool.activeSince }
            }
        }
        if scenario.caches.mode == .static {
            peakPhysical = pools.indices.reduce(0) { $0 + pools[$1].peak }
        }
    }
}
