import ElasticPolicy

/// What the leader decides for one site in one round, committed as one etcd transaction.
public struct SitePlan: Sendable, Equatable {
    public var site: String
    /// New placements (and their slots).
    public var place: [PlacementRecord] = []
    /// Placements to switch to `want: stop`, with why.
    public var stop: [(id: String, reason: String)] = []
    /// Placements whose instance is gone: their placement, slot and status keys are deleted.
    public var remove: [(id: String, slot: Int)] = []
    /// What to tell the API's event list once committed: kind, instance, tenant, message.
    public var events: [(kind: String, instance: String, tenant: String, message: String)] = []

    public var isEmpty: Bool { place.isEmpty && stop.isEmpty && remove.isEmpty }

    public static func == (a: SitePlan, b: SitePlan) -> Bool {
        a.site == b.site && a.place == b.place && a.stop.map(\.id) == b.stop.map(\.id) && a.remove.map(\.id) == b.remove.map(\.id)
    }
}

/// The leader's decisions from the cluster's state: the same ``CachePolicy`` as `ecdn up` and the
/// simulator, fed with the routers' demand reports and the agents' instance status. Pure: no
/// I/O, the time is passed in (wall-clock seconds, the clock the records carry).
public struct ClusterPlanner: Sendable {
    public var configuration: ControllerConfiguration
    private let policy: any CachePolicy

    public init(configuration: ControllerConfiguration) {
        self.configuration = configuration
        self.policy = configuration.effectivePolicy
    }

    /// Plans for every site; sites with nothing to do are left out. No instance is placed for
    /// the site-tenant pairs in `holding` (the leader's back-off after failed starts).
    public func plan(_ state: ClusterState, leader: String, now: Double, holding: Set<DesiredKey> = []) -> [SitePlan] {
        let sites = state.siteList
        let tenants = state.tenantList
        return sites.enumerated().compactMap { index, site in
            let plan = self.plan(site: site, index: index, tenants: tenants, state: state, leader: leader, now: now, holding: holding)
            return plan.isEmpty ? nil : plan
        }
    }

    func plan(
        site: SiteRecord, index: Int, tenants: [TenantRecord], state: ClusterState, leader: String, now: Double, holding: Set<DesiredKey> = []
    ) -> SitePlan {
        var plan = SitePlan(site: site.name)
        let placements = (state.placements[site.name] ?? [:]).values.map(\.record).sorted { $0.id < $1.id }
        let agentAlive = state.agents[site.name] != nil
        // Active placements by tenant, in id order, with their status.
        var active: [String: [(placement: PlacementRecord, status: StatusRecord?)]] = [:]
        var siteActive = 0
        for p in placements {
            let status = state.status[p.id]
            switch (p.want, agentAlive) {
            case (.run, false):
                plan.stop.append((p.id, "lost: the site's agent is gone"))
                plan.events.append(("lost", p.id, p.tenant, "the agent of \(site.name) stopped reporting (lease lapsed): instance lost"))
            case (.stop, false):
                plan.remove.append((p.id, p.slot))
            case (.run, true):
                if let status, status.instance.state == .stopped {
                    let reason = status.instance.reason ?? "stopped"
                    plan.remove.append((p.id, p.slot))
                    plan.events.append((Self.kind(of: reason), p.id, p.tenant, reason))
                } else if status == nil, now - p.placedAt > configuration.readyTimeout + 10 {
                    plan.stop.append((p.id, "never reported by the agent of \(site.name)"))
                    plan.events.append(("not-ready", p.id, p.tenant, "never reported by the agent of \(site.name)"))
                } else {
                    active[p.tenant, default: []].append((p, status))
                    siteActive += 1
                }
            case (.stop, true):
                if status == nil || status?.instance.state == .stopped {
                    plan.remove.append((p.id, p.slot))
                    plan.events.append(("stop", p.id, p.tenant, p.reason ?? "stopped"))
                }
            }
        }
        guard agentAlive else { return plan }
        var used = Set((state.slots[site.name] ?? [:]).keys)
        // The routers' reports for this site, looked up once rather than once per decision.
        let siteReports = state.demand.values.compactMap { $0[site.name] }
        for (tenantIndex, tenant) in tenants.enumerated() {
            let mine = active[tenant.name] ?? []
            let reports = siteReports.compactMap { $0.tenants[tenant.name] }
            var states: [InstanceState] = []
            for (k, (p, status)) in mine.enumerated() {
                let routed = ClusterState.viewers(in: reports, instance: p.id)
                let ready = status?.instance.state == .ready
                let lastActivity = status.map { max($0.lastActivity, $0.instance.readyAt ?? 0) } ?? p.placedAt
                let recentlyActive = now - lastActivity < max(3 * configuration.tick, 2)
                let connections = max(routed, status?.instance.connectionsOpen ?? 0, recentlyActive && ready ? 1 : 0)
                states.append(InstanceState(
                    id: k, phase: ready ? .ready : .booting(readyAt: p.placedAt + configuration.readyTimeout),
                    connections: connections, idleSince: connections == 0 ? lastActivity : nil
                ))
            }
            let reported = ClusterState.viewers(in: reports)
            let viewers = max(reported, states.reduce(0) { $0 + $1.connections })
            let observation = ContentObservation(site: index, content: tenantIndex, viewers: viewers, instances: states, siteInstances: siteActive, now: now)
            let wantsOne = configuration.mode == .fixed ? mine.isEmpty : viewers > 0 && policy.route(observation).start
            if wantsOne, siteActive < site.maxInstances, mine.count < tenant.quotaPerSite, !holding.contains(DesiredKey(site: site.name, tenant: tenant.name)),
               let slot = (0..<max(site.maxInstances * 4, 16)).first(where: { !used.contains($0) }),
               let address = site.configuration.instanceAddress(slot: slot) {
                used.insert(slot)
                siteActive += 1
                let record = PlacementRecord(
                    id: "\(site.name)-\(tenant.name)-\(state.revision)", site: site.name, tenant: tenant.name, slot: slot, address: address,
                    port: configuration.instancePort, adminPort: configuration.adminPort, origin: tenant.origin, tls: configuration.instanceTLS,
                    placedBy: leader, placedAt: now
                )
                plan.place.append(record)
                plan.events.append(("start", record.id, tenant.name, "placed at \(address) for \(tenant.name) (\(viewers) viewers)"))
            }
            guard configuration.mode == .elastic else { continue }
            for k in policy.review(observation).stop where states[k].phase == .ready {
                let idle = Int(now - (states[k].idleSince ?? now))
                plan.stop.append((mine[k].placement.id, "idle for \(idle) s"))
                plan.events.append(("drain", mine[k].placement.id, tenant.name, "idle for \(idle) s: draining"))
            }
        }
        return plan
    }

    /// The event kind for an instance's stop reason.
    static func kind(of reason: String) -> String {
        if reason.hasPrefix("crashed") { return "crash" }
        if reason.contains("never became ready") || reason.contains("before it was ready") { return "not-ready" }
        if reason.hasPrefix("launch failed") { return "launch-failed" }
        if reason.hasPrefix("unresponsive") { return "unresponsive" }
        return "stop"
    }
}
