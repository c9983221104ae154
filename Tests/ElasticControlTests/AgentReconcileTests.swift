@testable import ElasticControl
import EtcdClient
import Foundation
import NIOPosix
import Testing

/// A site agent that restarts reconciles against etcd: the caches that still run and are still
/// placed are adopted (the same processes serve on, none started twice), those no placement
/// wants any more are stopped, and their status is reported again or removed. Real etcd, real
/// `minicache` processes that outlive the first agent.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct AgentReconcileTests {
    static func agent(_ client: EtcdClient, work: String) throws -> (SiteAgent, ProcessBackend) {
        let backend = try ProcessBackend(
            configuration: ProcessBackendConfiguration(minicachePath: Binaries.minicache, workDirectory: work, volumeSize: 16 << 20, detached: true),
            logger: TestEnvironment.logger
        )
        let agent = SiteAgent(
            configuration: SiteAgentConfiguration(site: "site1", readyTimeout: 60, stopGrace: 2), backend: backend, client: client,
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        return (agent, backend)
    }

    /// Whether `pid` is a live process (not gone, not a zombie).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(end, offsetBy: 2)...].hasPrefix("Z")
    }

    @Test func aRestartedAgentAdoptsWhatIsPlacedAndStopsWhatIsNot() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let keys = ClusterKeys()
        let site = SiteConfiguration.loopbackSites(1, firstOctet: 143)[0]
        try await ClusterSeed.write(client: client, sites: [site], tenants: [TenantConfiguration(name: "default", origin: "http://127.0.0.1:9")])
        let work = TestEnvironment.temporaryDirectory("reconcile")
        defer { try? FileManager.default.removeItem(atPath: work) }

        // Two placements, as the leader writes them.
        let now = Date().timeIntervalSince1970
        let placements = (0..<2).map { slot in
            PlacementRecord(
                id: "site1-default-\(slot == 0 ? "kept" : "dropped")", site: "site1", tenant: "default", slot: slot,
                address: site.instanceAddress(slot: slot) ?? "", port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9", placedBy: "test", placedAt: now
            )
        }
        for p in placements {
            try await client.put(keys.placement(site: "site1", id: p.id), value: ClusterRecords.encode(p))
            try await client.put(keys.slot(site: "site1", p.slot), value: Array(p.id.utf8))
        }
        func status() async throws -> [String: InstanceLifecycle] {
            let records = try await client.snapshot(prefix: keys.status(site: "site1", id: "")).keyValues.compactMap { ClusterRecords.decode(StatusRecord.self, from: $0.value) }
            return Dictionary(uniqueKeysWithValues: records.map { ($0.instance.id, $0.instance.state) })
        }

        let (first, firstBackend) = try Self.agent(client, work: work)
        let firstRun = Task { try? await first.run() }
        #expect(await TestStack.eventually { (try? await status()) == [placements[0].id: .ready, placements[1].id: .ready] })
        let kept = try #require(firstBackend.pid(of: placements[0].id))
        let dropped = try #require(firstBackend.pid(of: placements[1].id))

        // The agent goes away; its caches keep running. Meanwhile the leader drops one placement.
        firstRun.cancel()
        await firstRun.value
        await first.shutdown(stopInstances: false)
        #expect(Self.alive(kept) && Self.alive(dropped))
        #expect(await TestStack.eventually { (try? await status())?.isEmpty == true })
        try await client.delete(keys.placement(site: "site1", id: placements[1].id))
        try await client.delete(keys.slot(site: "site1", 1))

        // The next agent adopts the kept cache (same process, reported ready again) and stops the other.
        let (second, secondBackend) = try Self.agent(client, work: work)
        let secondRun = Task { try? await second.run() }
        defer { secondRun.cancel() }
        #expect(await TestStack.eventually { (try? await status()) == [placements[0].id: .ready] && !Self.alive(dropped) })
        #expect(secondBackend.pid(of: placements[0].id) == kept)
        #expect(Self.alive(kept))
        #expect(secondBackend.pid(of: placements[1].id) == nil)
        let served = try await HTTPClientForTests().get(placements[0].spec.adminURL + "/admin/status")
        #expect(served.status == 200)
        #expect(second.instances.map(\.id) == [placements[0].id])

        secondRun.cancel()
        await secondRun.value
        await second.shutdown(stopInstances: true)
        #expect(!Self.alive(kept))
        await client.close()
    }
}
