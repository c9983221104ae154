@testable import ElasticControl
import Testing

/// The leader's plans on a fixed cluster state that covers every branch of the planner: a site
/// whose agent is gone, crashed, never-reported, idle, full, booting and drained instances,
/// demand from routers with viewer sketches (overlapping) and from one without, a site at its instance limit
/// and a held site-tenant pair.
struct ClusterPlannerTests {
    static let now = 1_000_000.0

    /// Site `s` (0..<6), tenant `t` (0..<3): case `(s + 2 * t) % 7` picks what runs there.
    static func state() -> ClusterState {
        var state = ClusterState()
        state.revision = 42
        for t in 0..<3 {
            let tenant = TenantConfiguration(name: "t\(t)", origin: "http://127.0.0.1:9", quotaPerSite: 2)
            state.tenants[tenant.name] = TenantRecord(tenant)
        }
        var r1: [String: DemandRecord] = [:]
        var r2: [String: DemandRecord] = [:]
        var r3: [String: DemandRecord] = [:]
        for s in 0..<6 {
            let name = "s\(s)"
            let site = SiteConfiguration(name: name, clientPrefix: "10.0.\(s).0/24", instanceBase: "172.16.\(s).10", maxInstances: s == 4 ? 2 : 4)
            state.sites[name] = SiteRecord(site)
            if s != 5 { state.agents[name] = MemberRecord(id: "a\(s)", role: "agent", site: name, since: now - 500) }
            var sketched: [String: DemandRecord.Tenant] = [:]
            var counted: [String: DemandRecord.Tenant] = [:]
            var overlapping: [String: DemandRecord.Tenant] = [:]
            for t in 0..<3 {
                let tenant = "t\(t)"
                let id = "\(name)-\(tenant)-1"
                let clients = (0..<(1 + (s + t) % 4)).map { "10.0.\(s).\(10 + $0)" }
                var placement: PlacementRecord? = PlacementRecord(
                    id: id, site: name, tenant: tenant, slot: t, address: "172.16.\(s).\(10 + t)", port: 18080, adminPort: 18081,
                    origin: "http://127.0.0.1:9", placedBy: "old", placedAt: now - 100
                )
                var status: InstanceLifecycle? = .ready
                var reason: String?
                var lastActivity = now - 1
                var onInstance = clients.count
                switch (s + 2 * t) % 7 {
                case 0:
                    placement = nil
                case 1:
                    onInstance = 0
                    lastActivity = now - 100
                case 2:
                    status = .stopped
                    reason = "crashed: exit status 1"
                case 3:
                    status = nil
                case 4:
                    placement?.want = .stop
                    placement?.reason = "idle for 40 s"
                case 5:
                    status = .starting
                    placement?.placedAt = now - 1
                default:
                    onInstance = 5
                }
                if let placement {
                    state.placements[name, default: [:]][id] = ClusterState.Placement(record: placement, modRevision: 7)
                    state.slots[name, default: [:]][placement.slot] = id
                    if let status {
                        let instance = InstanceRecord(
                            id: id, site: name, tenant: tenant, state: status, url: "", adminURL: "", backend: "test", startedAt: now - 100,
                            readyAt: status == .ready ? now - 90 : nil, reason: reason, connectionsOpen: status == .ready ? min(onInstance, 2) : 0
                        )
                        state.status[id] = StatusRecord(agent: "a\(s)", instance: instance, lastActivity: lastActivity)
                    }
                }
                let instances = placement == nil || onInstance == 0 ? [:] : [id: onInstance]
                sketched[tenant] = DemandRecord.Tenant(
                    viewers: clients.count, requests: 3, instances: instances, sketch: ViewerSketch(clients),
                    instanceSketches: instances.isEmpty ? [:] : [id: ViewerSketch(clients.prefix(onInstance))]
                )
                if s % 2 == 0 {
                    // A second router saw some of the same viewers, without sketches.
                    counted[tenant] = DemandRecord.Tenant(viewers: t, requests: 1, instances: instances.isEmpty ? [:] : [id: 1])
                }
                if s % 3 == 0 {
                    // A third saw some of them and one more, with sketches: the union counts.
                    let seen = clients.prefix(2) + ["10.0.\(s).99"]
                    overlapping[tenant] = DemandRecord.Tenant(
                        viewers: seen.count, requests: 1, instances: instances.isEmpty ? [:] : [id: seen.count], sketch: ViewerSketch(seen),
                        instanceSketches: instances.isEmpty ? [:] : [id: ViewerSketch(seen)]
                    )
                }
            }
            r1[name] = DemandRecord(router: "r1", site: name, at: now, tenants: sketched)
            if !counted.isEmpty { r2[name] = DemandRecord(router: "r2", site: name, at: now, tenants: counted) }
            if !overlapping.isEmpty { r3[name] = DemandRecord(router: "r3", site: name, at: now, tenants: overlapping) }
        }
        state.demand = ["r1": r1, "r2": r2, "r3": r3]
        return state
    }

    static func describe(_ plans: [SitePlan]) -> [String] {
        plans.map { plan in
            let place = plan.place.map { "\($0.id)@\($0.slot)=\($0.address)" }
            let stop = plan.stop.map { "\($0.id):\($0.reason)" }
            let remove = plan.remove.map { "\($0.id)@\($0.slot)" }
            let events = plan.events.map { "\($0.kind) \($0.instance) \($0.tenant) \($0.message)" }
            return "\(plan.site) place \(place) stop \(stop) remove \(remove) events \(events)"
        }
    }

    @Test func plansOfAFixedStateAreTheOnesTheSimulatorsPolicyMakes() {
        let planner = ClusterPlanner(configuration: ControllerConfiguration(idleTimeout: 30, viewersPerInstance: 4))
        let plans = planner.plan(Self.state(), leader: "lead", now: Self.now, holding: [DesiredKey(site: "s3", tenant: "t2")])
        let expected = [
            "s0 place [\"s0-t0-42@0=172.16.0.10\", \"s0-t1-42@3=172.16.0.13\", \"s0-t2-42@4=172.16.0.14\"] stop [] remove [\"s0-t1-1@1\"] events [\"crash s0-t1-1 t1 crashed: exit status 1\", \"start s0-t0-42 t0 placed at 172.16.0.10 for t0 (2 viewers)\", \"start s0-t1-42 t1 placed at 172.16.0.13 for t1 (4 viewers)\", \"start s0-t2-42 t2 placed at 172.16.0.14 for t2 (6 viewers)\"]",
            "s1 place [\"s1-t1-42@3=172.16.1.13\", \"s1-t2-42@4=172.16.1.14\"] stop [\"s1-t1-1:never reported by the agent of s1\", \"s1-t0-1:idle for 90 s\"] remove [] events [\"not-ready s1-t1-1 t1 never reported by the agent of s1\", \"drain s1-t0-1 t0 idle for 90 s: draining\", \"start s1-t1-42 t1 placed at 172.16.1.13 for t1 (3 viewers)\", \"start s1-t2-42 t2 placed at 172.16.1.14 for t2 (4 viewers)\"]",
            "s2 place [\"s2-t0-42@3=172.16.2.13\", \"s2-t1-42@4=172.16.2.14\", \"s2-t2-42@5=172.16.2.15\"] stop [] remove [\"s2-t0-1@0\"] events [\"crash s2-t0-1 t0 crashed: exit status 1\", \"start s2-t0-42 t0 placed at 172.16.2.13 for t0 (3 viewers)\", \"start s2-t1-42 t1 placed at 172.16.2.14 for t1 (5 viewers)\", \"start s2-t2-42 t2 placed at 172.16.2.15 for t2 (6 viewers)\"]",
            "s3 place [\"s3-t0-42@2=172.16.3.12\"] stop [\"s3-t0-1:never reported by the agent of s3\"] remove [] events [\"not-ready s3-t0-1 t0 never reported by the agent of s3\", \"start s3-t0-42 t0 placed at 172.16.3.12 for t0 (5 viewers)\"]",
            "s4 place [] stop [\"s4-t2-1:idle for 90 s\"] remove [] events [\"drain s4-t2-1 t2 idle for 90 s: draining\"]",
            "s5 place [] stop [\"s5-t0-1:lost: the site\\'s agent is gone\", \"s5-t2-1:lost: the site\\'s agent is gone\"] remove [] events [\"lost s5-t0-1 t0 the agent of s5 stopped reporting (lease lapsed): instance lost\", \"lost s5-t2-1 t2 the agent of s5 stopped reporting (lease lapsed): instance lost\"]",
        ]
        #expect(Self.describe(plans) == expected)
    }
}
