/// What one router saw of its viewers, summarised into ``DemandRecord``s per site.
///
/// Per site and tenant it keeps each viewer's last arrival and, per instance, each viewer sent
/// there; entries older than the viewer lease are pruned once per report, so a routing decision
/// reads counts in constant time however many viewers arrive.
struct RouterDemand {
    struct Key {
        /// Client address → last arrival (wall-clock seconds).
        var clients: [String: Double] = [:]
        /// Instance id → client address → last time sent there.
        var instances: [String: [String: Double]] = [:]
        var counter = DemandRecord.Tenant()
    }

    var keys: [DesiredKey: Key] = [:]
    /// What was last written per site (tenants), so unchanged demand is not written again.
    var written: [String: [String: DemandRecord.Tenant]] = [:]
    /// Keys written, and the transactions they went in (a tick's report is one transaction).
    var writes = 0
    var transactions = 0
    /// When each site's last early report (a viewer waiting for a cache) was written.
    var earlyReports: [String: Double] = [:]

    mutating func arrived(_ key: DesiredKey, client: String, content: String, now: Double) {
        Self.arrived(&keys[key, default: Key()], client: client, content: content, now: now)
    }

    private static func arrived(_ k: inout Key, client: String, content: String, now: Double) {
        k.clients[client] = now
        k.counter.requests += 1
        k.counter.contents[content, default: 0] += 1
    }

    mutating func routed(_ key: DesiredKey, instance: String?, client: String, now: Double, toCache: Bool) {
        Self.routed(&keys[key, default: Key()], instance: instance, client: client, now: now, toCache: toCache)
    }

    private static func routed(_ k: inout Key, instance: String?, client: String, now: Double, toCache: Bool) {
        if let instance { k.instances[instance, default: [:]][client] = now }
        if toCache { k.counter.toCache += 1 } else { k.counter.toOrigin += 1 }
    }

    mutating func waited(_ key: DesiredKey) {
        keys[key, default: Key()].counter.waited += 1
        keys[key, default: Key()].counter.toOrigin -= 1
    }

    /// Distinct viewers in the viewer lease (as of the last prune, plus arrivals since).
    func viewers(_ key: DesiredKey) -> Int { keys[key]?.clients.count ?? 0 }


    mutating func prune(before: Double) {
        for (key, var k) in keys {
            k.clients = k.clients.filter { $0.value >= before }
            k.instances = k.instances.compactMapValues { clients in
                let kept = clients.filter { $0.value >= before }
                return kept.isEmpty ? nil : kept
            }
            keys[key] = k
        }
    }

    /// Records for `sites` (nil: all) whose viewers or per-instance viewers changed since written.
    /// Each tenant carries sketches of which viewers it counts, so the leader merges routers.
    func records(router: String, sites: Set<String>?, now: Double) -> [DemandRecord] {
        var bySite: [String: [String: DemandRecord.Tenant]] = [:]
        for (key, k) in keys where sites?.contains(key.site) ?? true {
            var tenant = k.counter
            tenant.viewers = k.clients.count
            tenant.instances = k.instances.mapValues(\.count)
            tenant.sketch = ViewerSketch(k.clients.keys)
            tenant.instanceSketches = k.instances.mapValues { ViewerSketch($0.keys) }
            bySite[key.site, default: [:]][key.tenant] = tenant
        }
        return bySite.compactMap { site, tenants in
            // Only a change the leader acts on (which viewers, overall and per instance) is worth
            // a write on a tick; an early report (sites given) is always written.
            if sites == nil, let old = written[site], Self.sameViewers(old, tenants) { return nil }
            return DemandRecord(router: router, site: site, at: now, tenants: tenants)
        }
    }

    private static func sameViewers(_ a: [String: DemandRecord.Tenant], _ b: [String: DemandRecord.Tenant]) -> Bool {
        a.count == b.count && a.allSatisfy { name, t in
            b[name].map { $0.sketch == t.sketch && $0.instanceSketches == t.instanceSketches } ?? false
        }
    }
}
