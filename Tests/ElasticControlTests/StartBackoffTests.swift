@testable import ElasticControl
import EtcdClient
import Foundation
import NIOPosix
import Testing

/// Where caches keep failing to start, the leader places again only after a hold that doubles.
struct StartBackoffTests {
    @Test func holdsDoubleUpToTheLimitAndAreForgottenAfterAQuietMinute() {
        var backoff = StartBackoff()
        let key = DesiredKey(site: "s", tenant: "t")
        let other = DesiredKey(site: "s", tenant: "u")
        #expect(backoff.failed(key, now: 100) == (1, 0.5))
        #expect(backoff.held(now: 100.4) == [key])
        #expect(backoff.held(now: 100.5).isEmpty)
        #expect(backoff.failed(key, now: 101) == (2, 1))
        #expect(backoff.failed(key, now: 102) == (3, 2))
        for k in 0..<10 { _ = backoff.failed(key, now: 103 + Double(k)) }
        #expect(backoff.failed(key, now: 120).hold == 30)
        #expect(backoff.held(now: 121) == [key])
        #expect(backoff.failed(other, now: 121) == (1, 0.5))
        // A minute without a failure: the next one is a first again.
        #expect(backoff.failed(key, now: 181) == (1, 0.5))
    }

    /// A leader and an agent whose caches exit at once (the cache executable is `false`):
    /// each new placement waits out the hold the previous failure announced.
    @Test(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason))
    func aCacheThatNeverStartsIsPlacedAgainOnlyAfterAGrowingHold() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let keys = ClusterKeys()
        let logger = TestEnvironment.logger
        try await ClusterSeed.write(
            client: client, sites: SiteConfiguration.loopbackSites(1, firstOctet: 158), tenants: [TenantConfiguration(name: "default", origin: "http://127.0.0.1:9")]
        )
        let work = TestEnvironment.temporaryDirectory("backoff")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let backend = try ProcessBackend(
            configuration: ProcessBackendConfiguration(minicachePath: "/bin/false", workDirectory: work, volumeSize: 16 << 20, detached: true), logger: logger
        )
        let agent = SiteAgent(
            configuration: SiteAgentConfiguration(site: "site1"), backend: backend, client: client, group: MultiThreadedEventLoopGroup.singleton, logger: logger
        )
        let controller = ClusterController(
            configuration: ClusterControllerConfiguration(id: "c1", controller: ControllerConfiguration(idleTimeout: 60)), client: client, logger: logger
        )
        let agentRun = Task { try? await agent.run() }
        let controllerRun = Task { try? await controller.run() }
        defer {
            agentRun.cancel()
            controllerRun.cancel()
        }
        let demand = DemandRecord(router: "r1", site: "site1", at: Date().timeIntervalSince1970, tenants: ["default": DemandRecord.Tenant(viewers: 1, requests: 1)])
        try await client.put(keys.demand(router: "r1", site: "site1"), value: ClusterRecords.encode(demand))

        func hold(_ event: ControlEvent) -> Double? {
            event.message.components(separatedBy: "next placement in ").dropFirst().first?.split(separator: " ").first.flatMap { Double($0) }
        }
        let holds = { controller.events().filter { $0.kind == "backoff" } }
        #expect(await TestStack.eventually { holds().count >= 3 })
        #expect(holds().prefix(3).map(hold) == [0.5, 1, 2])
        // Each start after a hold comes no earlier than the hold allowed.
        let events = controller.events().filter { ["start", "backoff"].contains($0.kind) }
        for (k, event) in events.enumerated() where event.kind == "backoff" {
            guard let h = hold(event), let next = events[(k + 1)...].first(where: { $0.kind == "start" }) else { continue }
            #expect(next.time >= event.time + h - 0.01, "\(event.message)")
        }
        await client.close()
    }
}
