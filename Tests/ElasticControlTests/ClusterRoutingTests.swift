@testable import ElasticControl
import EtcdClient
import Foundation
import HTTPToolkit
import NIOCore
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
        /// Each ready instance's cache: a real listener at its address (nil while cut off).
        private var caches: [String: (address: HostPort, server: HTTPServer?)] = [:]
        /// Listeners that never accept (and their one queued connection), in place of silently cut caches.
        private var holes: [any Channel] = []

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

        /// A ready instance of the tenant at `site`, its cache a listener that answers every
        /// request with a playlist; returns its id.
        @discardableResult
        func readyInstance(_ site: Int) async throws -> String {
            let s = sites[site]
            let id = "\(s.name)-default-1"
            let now = Date().timeIntervalSince1970
            let server = try await Self.cache(host: s.instanceAddress(slot: 0) ?? "", port: 0)
            caches[id] = (server.address, server)
            let placement = PlacementRecord(
                id: id, site: s.name, tenant: tenant.name, slot: 0, address: server.address.host, port: server.address.port, adminPort: 18081,
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

        private static func cache(host: String, port: Int) async throws -> HTTPServer {
            try await HTTPServer.bind(host: host, port: port, group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger) { _ in
                .text(.ok, "#EXTM3U\n")
            }
        }

        /// `http://address:port` of an instance's cache.
        func url(_ id: String) -> String { "http://\(caches[id]?.address.description ?? "")" }

        /// Cuts an instance's cache off: its listener closes and connections are refused, or,
        /// `silently`, get no answer at all, as when its host's link is down (a listener that
        /// never accepts takes the address, its queue full, so the kernel drops every new SYN).
        /// Its records (placement, ready status, live agent) stay as they are.
        func cut(_ id: String, silently: Bool = false) async throws {
            await caches[id]?.server?.close()
            caches[id]?.server = nil
            guard silently, let address = caches[id]?.address else { return }
            let group = MultiThreadedEventLoopGroup.singleton
            let hole = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 0)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.autoRead, value: false)
                .bind(host: address.host, port: address.port).get()
            holes.append(hole)
            holes.append(try await ClientBootstrap(group: group).connect(host: address.host, port: address.port).get())
        }

        /// Brings a cut cache back on the same address and port.
        func restore(_ id: String) async throws {
            guard let address = caches[id]?.address else { return }
            for hole in holes { try? await hole.close() }
            holes = []
            caches[id]?.server = try await Self.cache(host: address.host, port: address.port)
        }

        /// A running router with its own view; returns once it is registered and its view is synced.
        /// `checkInterval` 0: only viewers that come back trigger cache checks.
        func router(_ id: String, checkInterval: Double = 0) async throws -> ClusterRouter {
            let router = try await ClusterRouter(
                configuration: ClusterRouterConfiguration(
                    id: id, port: 0, controller: ControllerConfiguration(routerWait: 0), cacheCheckInterval: checkInterval
                ),
                client: client, group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
            )
            routers.append((router, Task { try await router.run() }))
            let ready = await router.view.wait(timeout: 30) { $0.synced && $0.routers[id] != nil }
            try #require(ready)
            return router
        }

        func stop() async {
            for (_, task) in routers { task.cancel() }
            for (_, task) in routers { _ = await task.result }
            for (_, cache) in caches { await cache.server?.close() }
            for hole in holes { try? await hole.close() }
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
        #expect(await router.view.wait(timeout: 30) { $0.status[cache] != nil })

        let target = await router.route(site: "site1", tenant: "default", client: "127.0.201.7")
        #expect(target == .cache(url: records.url(cache), instance: cache))
        // The viewer counts at the site that serves it.
        await router.reportDemand(sites: nil)
        #expect(await router.view.wait(timeout: 30) { $0.viewers(site: "site3", tenant: "default") == 1 })

        // With no live site holding a cache, a lost site's viewers go to the origin.
        try await records.removeAgent(2)
        #expect(await router.view.wait(timeout: 30) { $0.agents["site3"] == nil })
        let origin = await router.route(site: "site1", tenant: "default", client: "127.0.201.8")
        #expect(origin == .origin(url: "http://127.0.0.1:9", reason: "site lost"))
        await records.stop()
    }

    /// A viewer as `cluster-bench viewers` plays: it asks a router once, then fetches from where
    /// it was sent; a failed fetch is retried once, back through the next router.
    struct RetryingViewer {
        let address: String
        let routers: [ClusterRouter]
        var next: Int
        var location: String?
        var retried = 0
        var visibleErrors: [String] = []

        mutating func fetch() async {
            do {
                try await attempt()
            } catch {
                retried += 1
                location = nil
                do {
                    try await attempt()
                } catch {
                    visibleErrors.append("\(error)")
                    location = nil
                }
            }
        }

        private mutating func attempt() async throws {
            let client = HTTPClientForTests()
            if location == nil {
                let router = routers[next % routers.count]
                next += 1
                let routed = try await client.get(router.url + "/live/1/index.m3u8", from: address)
                guard routed.status == 302, routed.headers.first(name: "X-ECDN-Instance") != nil, let target = routed.headers.first(name: "Location") else {
                    throw ControlError(.httpFailed, "\(router.url) answered \(routed.status) without a redirect to a cache")
                }
                location = target
            }
            let response = try await client.get(location ?? "", from: address)
            guard response.status == 200 else { throw ControlError(.httpFailed, "\(location ?? "") answered \(response.status)") }
        }
    }

    /// Refused (the cache's process died) and silent (its host's link went down: the viewer's
    /// fetch and the router's check both time out).
    @Test(arguments: [false, true])
    func viewersOfACutOffCacheAreSentToAnotherSiteOnTheirRetryWithoutAnError(silently: Bool) async throws {
        let records = try await Records(sites: 2)
        try await records.agent(0)
        try await records.agent(1)
        let first = try await records.readyInstance(0)
        let second = try await records.readyInstance(1)
        let ra = try await records.router("ra")
        let rb = try await records.router("rb")
        for router in [ra, rb] {
            #expect(await router.view.wait(timeout: 30) { $0.status[first] != nil && $0.status[second] != nil })
        }
        // Ten viewers of site 1, half of them routed by each router: all play from site 1's cache.
        var viewers = (1...10).map { RetryingViewer(address: "127.0.201.\($0)", routers: [ra, rb], next: $0) }
        for k in viewers.indices { await viewers[k].fetch() }
        #expect(viewers.allSatisfy { $0.location?.hasPrefix(records.url(first)) == true && $0.retried == 0 && $0.visibleErrors.isEmpty })
        // Each router's report tells the other which viewers it sent to the cache.
        await ra.reportDemand(sites: nil)
        await rb.reportDemand(sites: nil)
        for router in [ra, rb] {
            #expect(await router.view.wait(timeout: 30) { $0.viewers(site: "site1", tenant: "default", instance: first) == 10 })
        }

        // The cache is cut off while its agent still reports it ready: each viewer's fetch
        // fails, and its retry, through the router that did not send it there, goes to site 2.
        try await records.cut(first, silently: silently)
        viewers = await withTaskGroup(of: RetryingViewer.self) { group in
            for viewer in viewers {
                group.addTask {
                    var viewer = viewer
                    await viewer.fetch()
                    return viewer
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(viewers.count == 10)
        #expect(viewers.allSatisfy { $0.visibleErrors.isEmpty }, "\(viewers.flatMap(\.visibleErrors))")
        #expect(viewers.allSatisfy { $0.retried == 1 && $0.location?.hasPrefix(records.url(second)) == true })
        #expect(ra.unreachableCaches == [first])
        #expect(rb.unreachableCaches == [first])
        // They play on from there.
        for k in viewers.indices { await viewers[k].fetch() }
        #expect(viewers.allSatisfy { $0.retried == 1 && $0.visibleErrors.isEmpty })
        await records.stop()
    }

    @Test func periodicChecksRouteNewViewersAroundACutOffCacheUntilItIsBack() async throws {
        let records = try await Records(sites: 2)
        try await records.agent(0)
        try await records.agent(1)
        let first = try await records.readyInstance(0)
        let second = try await records.readyInstance(1)
        let router = try await records.router("r1", checkInterval: 0.1)
        #expect(await router.view.wait(timeout: 30) { $0.status[first] != nil && $0.status[second] != nil })
        #expect(await router.route(site: "site1", tenant: "default", client: "127.0.201.1") == .cache(url: records.url(first), instance: first))

        try await records.cut(first)
        #expect(await TestStack.eventually { router.unreachableCaches == [first] })
        // A new viewer of site 1 goes to site 2's cache without trying the cut one.
        #expect(await router.route(site: "site1", tenant: "default", client: "127.0.201.2") == .cache(url: records.url(second), instance: second))

        try await records.restore(first)
        #expect(await TestStack.eventually { router.unreachableCaches.isEmpty })
        #expect(await router.route(site: "site1", tenant: "default", client: "127.0.201.3") == .cache(url: records.url(first), instance: first))
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
        #expect(await router.view.wait(timeout: 30) { $0.synced && $0.routers["r1"] != nil && $0.agents["site1"] != nil })
        #expect(await TestStack.eventually { router.etcdWrites.transactions >= 1 })
        let before = router.etcdWrites
        for k in 1...50 {
            let target = await router.route(site: "site1", tenant: "default", client: "127.0.201.\(k)")
            #expect(target == .origin(url: "http://127.0.0.1:9", reason: "cache booting"))
        }
        #expect(router.etcdWrites.transactions - before.transactions == 1)
        #expect(await router.view.wait(timeout: 30) { $0.viewers(site: "site1", tenant: "default") == 1 })
        // The tick's report carries them all.
        await router.reportDemand(sites: nil)
        #expect(router.etcdWrites.transactions - before.transactions == 2)
        #expect(await router.view.wait(timeout: 30) { $0.viewers(site: "site1", tenant: "default") == 50 })
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
        #expect(await router.view.wait(timeout: 30) { $0.sites["site9"] != nil })
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
        #expect(await a.view.wait(timeout: 30) { $0.status[cache] != nil })
        #expect(await b.view.wait(timeout: 30) { $0.status[cache] != nil })

        // One viewer asks both routers (a retry, a second A record); a second asks one of them.
        #expect(await a.route(site: "site1", tenant: "default", client: "127.0.201.7") == .cache(url: records.url(cache), instance: cache))
        #expect(await b.route(site: "site1", tenant: "default", client: "127.0.201.7") == .cache(url: records.url(cache), instance: cache))
        _ = await b.route(site: "site1", tenant: "default", client: "127.0.201.8")
        await a.reportDemand(sites: nil)
        await b.reportDemand(sites: nil)
        let reported = await a.view.wait(timeout: 30) { $0.demand["ra"]?["site1"] != nil && $0.demand["rb"]?["site1"] != nil }
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
