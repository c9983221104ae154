@testable import ElasticControl
import EtcdClient
import Foundation
import NIOHTTP1
import NIOPosix
import Testing

/// Routers of the distributed control plane against a real etcd, with the cluster's records
/// written directly: where a lost site's viewers go, and how demand from several routers adds up.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct ClusterRoutingTests {
    /// A cluster of `sites` loopback sites and one tenant, with the given live agents and ready instances.
    final class Records: @unchecked Sendable {
        let etcd: EtcdTestServer
        let client: EtcdClient
        let keys = ClusterKeys()
        let sites: [SiteConfiguration]
        let tenant = TenantConfiguration(name: "default", origin: "http://127.0.0.1:9")
        private var routers: [(ClusterRouter, Task<Void, any Error>)] = []

        init(sites: Int) async throws {
            etcd = try await EtcdTestServer.start()
            client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
            self.sites = SiteConfiguration.loopbackSites(sites, firstOctet: 201)
            try await ClusterSeed.write(client: client, sites: self.sites, tenants: [tenant])
        }

        func agent(_ site: Int) async throws {
            let name = sites[site].name
            try await client.put(keys.agent(name), value: ClusterRecords.encode(MemberRecord(id: "agent-\(name)", role: "agent", site: name, since: Date().timeIntervalSince1970)))
        }

        func removeAgent(_ site: Int) async throws { try await client.delete(keys.agent(sites[site].name)) }

        /// A ready instance of the tenant at `site`; returns its id.
        @discardableResult
        func readyInstance(_ site: Int) async throws -> String {
            let s = sites[site]
            let id = "\(s.name)-default-1"
            let now = Date().timeIntervalSince1970
            let placement = PlacementRecord(
                id: id, site: s.name, tenant: tenant.name, slot: 0, address: s.instanceAddress(slot: 0) ?? "", port: 18080, adminPort: 18081,
                origin: tenant.origin, placedBy: "test", placedAt: now
            )
            let instance = InstanceRecord(
                id: id, site: s.name, tenant: tenant.name, state: .ready, url: placement.spec.url, adminURL: placement.spec.adminURL,
                backend: "test", startedAt: now, readyAt: now
            )
            _ = try await client.transaction(if: [], then: [
                .put(key: keys.placement(site: s.name, id: id), value: ClusterRecords.encode(placement)),
                .put(key: keys.slot(site: s.name, 0), value: Array(id.utf8)),
                .put(key: keys.status(site: s.name, id: id), value: ClusterRecords.encode(StatusRecord(agent: "agent-\(s.name)", instance: instance, lastActivity: now))),
            ])
            return id
        }

        /// A running router with its own view; returns once it is registered and its view is synced.
        func router(_ id: String) async throws -> ClusterRouter {
            let router = try await ClusterRouter(
                configuration: ClusterRouterConfiguration(id: id, port: 0, controller: ControllerConfiguration(routerWait: 0)),
                client: client, group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
            )
            routers.append((router, Task { try await router.run() }))
            let ready = await router.view.wait(timeout: 15) { $0.synced && $0.routers[id] != nil }
            try #require(ready)
            return router
        }

        func stop() async {
            for (_, task) in routers { task.cancel() }
            for (_, task) in routers { _ = await task.result }
            await client.close()
            etcd.destroy()
        }
    }

    @Test func viewersOfALostSiteGoToTheNextSiteWithACache() async throws {
        let records = try await Records(sites: 3)
        // site1 is lost (no agent); site2 has an agent but no cache; site3 has a ready cache.
        try await records.agent(1)
        try await records.agent(2)
        let cache = try await records.readyInstance(2)
        let router = try await records.router("r1")
        #expect(await router.view.wait(timeout: 10) { $0.status[cache] != nil })

        let target = await router.route(site: "site1", tenant: "default", client: "127.0.201.7")
        #expect(target == .cache(url: "http://127.0.203.10:18080", instance: cache))
        // The viewer counts at the site that serves it.
        await router.reportDemand(sites: nil)
        #expect(await router.view.wait(timeout: 10) { $0.viewers(site: "site3", tenant: "default") == 1 })

        // With no live site holding a cache, a lost site's viewers go to the origin.
        try await records.removeAgent(2)
        #expect(await router.view.wait(timeout: 10) { $0.agents["site3"] == nil })
        let origin = await router.route(site: "site1", tenant: "default", client: "127.0.201.8")
        #expect(origin == .origin(url: "http://127.0.0.1:9", reason: "site lost"))
        await records.stop()
    }

    @Test func aBurstOfViewersWaitingForACacheCostsOneEarlyReport() async throws {
        let records = try await Records(sites: 1)
        try await records.agent(0)
        // Ticks a minute apart, so only early reports are written during the burst.
        let router = try await ClusterRouter(
            configuration: ClusterRouterConfiguration(id: "r1", port: 0, reportInterval: 60, controller: ControllerConfiguration(routerWait: 0)),
            client: records.client, group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let runner = Task { try await router.run() }
        #expect(await router.view.wait(timeout: 15) { $0.synced && $0.routers["r1"] != nil && $0.agents["site1"] != nil })
        #expect(await TestStack.eventually(timeout: 5) { router.etcdWrites.transactions >= 1 })
        let before = router.etcdWrites
        for k in 1...50 {
            let target = await router.route(site: "site1", tenant: "default", client: "127.0.201.\(k)")
            #expect(target == .origin(url: "http://127.0.0.1:9", reason: "cache booting"))
        }
        #expect(router.etcdWrites.transactions - before.transactions == 1)
        #expect(await router.view.wait(timeout: 10) { $0.viewers(site: "site1", tenant: "default") == 1 })
        // The tick's report carries them all.
        await router.reportDemand(sites: nil)
        #expect(router.etcdWrites.transactions - before.transactions == 2)
        #expect(await router.view.wait(timeout: 10) { $0.viewers(site: "site1", tenant: "default") == 50 })
        runner.cancel()
        _ = await runner.result
        await records.stop()
    }

    @Test func aSiteWrittenWhileTheRouterRunsIsInItsPrefixTableAtOnce() async throws {
        let records = try await Records(sites: 1)
        let router = try await records.router("r1")
        func site(from address: String) async throws -> String? {
            try await HTTPClientForTests().get(router.url + "/live/1/index.m3u8", from: address).headers.first(name: "X-ECDN-Site")
        }
        #expect(try await site(from: "127.0.209.5") == "none")
        #expect(try await site(from: "127.0.201.5") == "site1")
        let site9 = SiteConfiguration(name: "site9", clientPrefix: "127.0.209.0/24", instanceBase: "127.0.210.10")
        try await records.client.put(records.keys.site("site9"), value: ClusterRecords.encode(SiteRecord(site9)))
        #expect(await router.view.wait(timeout: 10) { $0.sites["site9"] != nil })
        #expect(try await site(from: "127.0.209.5") == "site9")
        #expect(try await site(from: "127.0.201.5") == "site1")
        await records.stop()
    }

    @Test func aViewerSeenByTwoRoutersCountsOnce() async throws {
        let records = try await Records(sites: 1)
        try await records.agent(0)
        let cache = try await records.readyInstance(0)
        let a = try await records.router("ra")
        let b = try await records.router("rb")
        #expect(await a.view.wait(timeout: 10) { $0.status[cache] != nil })
        #expect(await b.view.wait(timeout: 10) { $0.status[cache] != nil })

        // One viewer asks both routers (a retry, a second A record); a second asks one of them.
        #expect(await a.route(site: "site1", tenant: "default", client: "127.0.201.7") == .cache(url: "http://127.0.201.10:18080", instance: cache))
        #expect(await b.route(site: "site1", tenant: "default", client: "127.0.201.7") == .cache(url: "http://127.0.201.10:18080", instance: cache))
        _ = await b.route(site: "site1", tenant: "default", client: "127.0.201.8")
        await a.reportDemand(sites: nil)
        await b.reportDemand(sites: nil)
        let reported = await a.view.wait(timeout: 10) { $0.demand["ra"]?["site1"] != nil && $0.demand["rb"]?["site1"] != nil }
        #expect(reported)
        let state = a.view.current
        #expect(state.viewers(site: "site1", tenant: "default") == 2)
        #expect(state.viewers(site: "site1", tenant: "default", instance: cache) == 2)

        // The leader sees two viewers on the cache too: with room for three it adds none (three,
        // counted twice, would fill it and place a second).
        let planner = ClusterPlanner(configuration: ControllerConfiguration(viewersPerInstance: 3))
        #expect(planner.plan(state, leader: "test", now: Date().timeIntervalSince1970).flatMap(\.place).isEmpty)
        await records.stop()
    }

    @Test func viewerSketchesCountDistinctClientsAndSurviveJSON() throws {
        // Within three standard deviations of linear counting over 8,192 bits.
        let few = ViewerSketch((1...20).map { "10.0.0.\($0)" })
        #expect(few.count == 20)
        let first = ViewerSketch((0..<300).map { "10.0.\($0 / 256).\($0 % 256)" })
        let second = ViewerSketch((200..<500).map { "10.0.\($0 / 256).\($0 % 256)" })
        #expect(abs(first.count - 300) <= 8)
        var union = first
        union.formUnion(second)
        #expect(abs(union.count - 500) <= 12)
        let large = ViewerSketch((0..<5000).map { "client-\($0)" })
        #expect(abs(large.count - 5000) <= 200)
        for sketch in [ViewerSketch(["a", "b"]), first, large] {
            let decoded = ClusterRecords.decode(DemandRecord.self, from: ClusterRecords.encode(DemandRecord(
                router: "r", site: "s", at: 0, tenants: ["t": DemandRecord.Tenant(viewers: 1, sketch: sketch)]
            )))
            #expect(decoded?.tenants["t"]?.sketch == sketch)
        }
        #expect(ViewerSketch().count == 0)
    }
}
