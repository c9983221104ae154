@testable import ElasticControl
import EtcdClient
import Foundation
import Testing

/// Every placement decision is one etcd transaction that holds only while its controller leads
/// and nothing at the site changed since the state it planned on: a leader planning on a stale
/// view, or a standby, cannot place an instance twice. Real etcd, two controllers in process.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct PlacementTransactionTests {
    @Test(arguments: EtcdTestServer.executables)
    func aPlanOnAStaleViewOrByAStandbyIsRefusedSoNothingIsPlacedTwice(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let keys = ClusterKeys()
        let logger = TestEnvironment.logger
        try await ClusterSeed.write(
            client: client, sites: SiteConfiguration.loopbackSites(1, firstOctet: 134), tenants: [TenantConfiguration(name: "default", origin: "http://127.0.0.1:9")]
        )
        let now = Date().timeIntervalSince1970
        try await client.put(keys.agent("site1"), value: ClusterRecords.encode(MemberRecord(id: "agent-site1", role: "agent", site: "site1", since: now)))

        let settings = ControllerConfiguration(idleTimeout: 60)
        let leader = ClusterController(configuration: ClusterControllerConfiguration(id: "c1", controller: settings), client: client, logger: logger)
        let standby = ClusterController(configuration: ClusterControllerConfiguration(id: "c2", controller: settings), client: client, logger: logger)
        let leaderRunner = Task { try? await leader.run() }
        defer { leaderRunner.cancel() }
        #expect(await TestStack.eventually { leader.isLeader })
        let standbyRunner = Task { try? await standby.run() }
        defer { standbyRunner.cancel() }
        #expect(await TestStack.eventually { standby.leaderID == "c1" })

        // A router reports a viewer at site1: the leader places one instance for it.
        let demand = DemandRecord(router: "r1", site: "site1", at: now, tenants: ["default": DemandRecord.Tenant(viewers: 1, requests: 1)])
        let demandRevision = try await client.put(keys.demand(router: "r1", site: "site1"), value: ClusterRecords.encode(demand))
        func placements() async throws -> [String] {
            try await client.snapshot(prefix: keys.placements(site: "site1")).keyValues.map(\.key).sorted()
        }
        #expect(await TestStack.eventually { (try? await placements().count) == 1 })
        let placed = try await placements()
        let placedRevision = try await client.snapshot(prefix: keys.placements(site: "site1")).keyValues.map(\.modRevision).max() ?? 0
        #expect(placedRevision > demandRevision)

        // The leader, planning on the view it had before its own placement (the demand, no
        // instance yet), wants a second instance: etcd refuses it, the site changed since.
        #expect(await TestStack.eventually { leader.view.read { $0.revision >= placedRevision } })
        var stale = leader.view.current
        stale.placements = [:]
        stale.slots = [:]
        stale.status = [:]
        stale.revision = demandRevision
        let leaderCounts = leader.transactionCounts
        await leader.decide(on: stale)
        #expect(leader.transactionCounts.conflicts > leaderCounts.conflicts)
        #expect(try await placements() == placed)

        // The standby, planning on a current view made to look empty, is refused too: the leader
        // key does not carry its lease.
        #expect(await TestStack.eventually { standby.view.read { $0.revision >= placedRevision } })
        var looksEmpty = standby.view.current
        looksEmpty.placements = [:]
        looksEmpty.slots = [:]
        looksEmpty.status = [:]
        await standby.decide(on: looksEmpty)
        #expect(standby.transactionCounts.committed == 0)
        #expect(standby.transactionCounts.conflicts == 1)
        #expect(try await placements() == placed)
        await client.close()
    }
}
