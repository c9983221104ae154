/// What one router saw of its viewers, summarised into ``DemandRecord``s per site.
struct RouterDemand {
    var arrivals: [DesiredKey: [(time: Double, client: String)]] = [:]
    var routedTo: [DesiredKey: [(time: Double, instance: String, client: String)]] = [:]
    var counters: [DesiredKey: DemandRecord.Tenant] = [:]
    /// What was last written per site (tenants), so unchanged demand is not written again.
    var written: [String: [String: DemandRecord.Tenant]] = [:]
    var writes = 0

    mutating func arrived(_ key: DesiredKey, client: String, content: String, now: Double) {
        arrivals[key, default: []].append((now, client))
        counters[key, default: .init()].requests += 1
        counters[key, default: .init()].contents[content, default: 0] += 1
    }

    mutating func routed(_ key: DesiredKey, instance: String?, client: String, now: Double, toCache: Bool) {
        if let instance { routedTo[key, default: []].append((now, instance, client)) }
        if toCache { counters[key, default: .init()].toCache += 1 } else { counters[key, default: .init()].toOrigin += 1 }
    }

    func viewers(_ key: DesiredKey, since: Double) -> Int {
        Set(arrivals[key, default: []].lazy.filter { $0.time >= since }.map(\.client)).count
    }

    /// Distinct viewers sent to each instance since `since`.
    func routedCounts(_ key: DesiredKey, since: Double) -> [String: Int] {
        var clients: [String: Set<String>] = [:]
        for r in routedTo[key, default: []] where r.time >= since { clients[r.instance, default: []].insert(r.client) }
        return clients.mapValues(\.count)
    }

    mutating func prune(before: Double) {
        for key in arrivals.keys { arrivals[key]?.removeAll { $0.time < before } }
        for key in routedTo.keys { routedTo[key]?.removeAll { $0.time < before } }
    }

    /// Records for `sites` (nil: all) whose viewers or instance counts changed since written.
    func records(router: String, sites: Set<String>?, viewerLease: Double, now: Double) -> [DemandRecord] {
        var bySite: [String: [String: DemandRecord.Tenant]] = [:]
        for (key, counter) in counters where sites?.contains(key.site) ?? true {
            var tenant = counter
            tenant.viewers = viewers(key, since: now - viewerLease)
            tenant.instances = routedCounts(key, since: now - viewerLease)
            bySite[key.site, default: [:]][key.tenant] = tenant
        }
        return bySite.compactMap { site, tenants in
            // Only a change the controller acts on (viewers, per-instance viewers) is worth a write
            // on a tick; an early report (sites given) is always written.
            if sites == nil, let old = written[site],
               old.mapValues({ [$0.viewers] + $0.instances.sorted { $0.key < $1.key }.map(\.value) })
                == tenants.mapValues({ [$0.viewers] + $0.instances.sorted { $0.key < $1.key }.map(\.value) }) {
                return nil
            }
            return DemandRecord(router: router, site: site, at: now, tenants: tenants)
        }
    }
}
