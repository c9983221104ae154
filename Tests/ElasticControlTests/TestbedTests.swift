@testable import ElasticControl
import EtcdClient
import Foundation
import Logging
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import Testing

/// The multi-host test bed (network namespaces, a 3-member etcd cluster, two controllers, two
/// routers, three site agents) and the faults of the distributed control plane, each asserting
/// what viewers saw. Slow (a bed takes ~10 s to build; each fault test 30-90 s): run with
/// MINICACHE_SLOW_TESTS=1, as root, with etcd installed.
@Suite(
    .enabled(if: TestEnvironment.slow, "slow: set MINICACHE_SLOW_TESTS=1"),
    .enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason),
    .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"), "needs root and iproute2 for network namespaces"),
    .serialized
)
struct TestbedTests {
    static func bed(name: String = "ecdnt") -> Testbed {
        Testbed(
            configuration: TestbedConfiguration(
                name: name, ecdn: Binaries.ecdn, minicache: Binaries.minicache, controllerArguments: ["--idle-timeout", "120"]
            ),
            logger: TestEnvironment.logger
        )
    }

    /// `curl` from a client namespace: status, X-ECDN-Instance and X-ECDN-Origin-Reason of the router's answer.
    static func route(_ bed: Testbed, site: Int, router: Int = 1, path: String = "/live/1/index.m3u8") async -> (status: Int, instance: String?, reason: String?) {
        let c = bed.configuration
        let text = await run(["/usr/sbin/ip", "netns", "exec", c.namespace("view\(site)"), "curl", "-s", "-m", "5", "-D", "-", "-o", "/dev/null", c.routerURL(router) + path])
        var status = 0
        var instance: String?
        var reason: String?
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("HTTP/1.1 ") { status = Int(line.split(separator: " ")[1]) ?? 0 }
            if line.lowercased().hasPrefix("x-ecdn-instance:") { instance = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
            if line.lowercased().hasPrefix("x-ecdn-origin-reason:") { reason = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
        }
        return (status, instance, reason)
    }

    /// Follows the router to the content from a client namespace; the final status (0: no answer).
    static func fetch(_ bed: Testbed, site: Int, router: Int = 1, path: String = "/live/1/index.m3u8") async -> Int {
        let c = bed.configuration
        let text = await run(["/usr/sbin/ip", "netns", "exec", c.namespace("view\(site)"), "curl", "-sL", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", c.routerURL(router) + path])
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Player-like viewers at `site` for `duration` seconds (`ecdn load` in the client namespace); its report.
    static func viewers(_ bed: Testbed, site: Int, rate: Double, duration: Double, watch: String) -> Process {
        let c = bed.configuration
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = [
            "netns", "exec", c.namespace("view\(site)"), Binaries.ecdn, "load", "--router", c.routerURL(1), "--sites", c.clientPrefix(site: site),
            "--rate", "\(rate)", "--duration", "\(duration)", "--watch", watch, "--channels", "1", "--json", "\(c.directory)/load\(site).json",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        return process
    }

    /// Players in the report and those that saw an error.
    static func report(_ bed: Testbed, site: Int) -> (viewers: Int, withErrors: Int, errors: [String]) {
        guard let data = FileManager.default.contents(atPath: "\(bed.configuration.directory)/load\(site).json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let players = object["results"] as? [[String: Any]] else { return (0, 0, ["no report"]) }
        let failed = players.filter { ($0["errors"] as? Int ?? 0) > 0 }
        return (players.count, failed.count, failed.compactMap { $0["error"] as? String })
    }

    static func run(_ arguments: [String]) async -> String {
        (try? await ProcessRun.run(arguments[0], Array(arguments.dropFirst())))?.output ?? ""
    }

    static func leader(_ bed: Testbed, controller: Int) async -> String? {
        guard let response = try? await HTTPClientForTests().get(bed.configuration.apiURL(controller) + "/api/leader"),
              let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] else { return nil }
        return object["id"] as? String
    }

    static func store(_ bed: Testbed) throws -> EtcdClient {
        try EtcdClient(configuration: EtcdConfiguration(url: bed.configuration.storeURL))
    }

    static func placements(_ client: EtcdClient, site: Int) async -> [PlacementRecord] {
        ((try? await client.snapshot(prefix: ClusterKeys().placements(site: "site\(site)")))?.keyValues ?? [])
            .compactMap { ClusterRecords.decode(PlacementRecord.self, from: $0.value) }
    }

    /// minicache processes on site host `n`.
    static func caches(_ bed: Testbed, site: Int) -> [Int32] {
        bed.processes("site\(site)").filter { $0.command.contains("minicache serve") }.map(\.pid)
    }

    @Test func upServesViewersFromEveryRouterAndDownLeavesNothing() async throws {
        let bed = Self.bed()
        await bed.down()
        let urls = try await bed.up()
        #expect(urls.routers.count == 2 && urls.apis.count == 2)
        // Both controllers name the same leader.
        let l1 = await Self.leader(bed, controller: 1)
        let l2 = await Self.leader(bed, controller: 2)
        #expect(l1 != nil && l1 == l2)
        // A viewer at site 2 gets site 2's cache through either router, and it serves.
        let first = await Self.route(bed, site: 2)
        #expect(first.status == 302)
        #expect(first.instance?.hasPrefix("site2-default-") == true)
        #expect(await Self.route(bed, site: 2, router: 2).instance == first.instance)
        #expect(await Self.fetch(bed, site: 2) == 200)
        #expect(Self.caches(bed, site: 2).count == 1)
        #expect(Self.caches(bed, site: 1).isEmpty)
        await bed.down()
        let left = bed.leftovers()
        #expect(left.namespaces.isEmpty)
        #expect(left.links.isEmpty)
        #expect(left.processes == 0)
        #expect(!FileManager.default.fileExists(atPath: bed.configuration.directory))
    }

    @Test func killedLeadingControllerIsReplacedAndPlayersSeeNoError() async throws {
        let bed = Self.bed()
        await bed.down()
        _ = try await bed.up()
        let players = Self.viewers(bed, site: 1, rate: 0.5, duration: 20, watch: "15-20")
        #expect(await TestStack.eventually { !Self.caches(bed, site: 1).isEmpty })
        let leader = try #require(await Self.leader(bed, controller: 1))
        let victim = leader == "ctl1" ? 1 : 2
        let survivor = 3 - victim
        #expect(bed.signal("ctl\(victim)", matching: "controller", SIGKILL) == 1)
        let took = await TestStack.eventually { await Self.leader(bed, controller: survivor) == "ctl\(survivor)" }
        #expect(took)
        await players.exited()
        let report = Self.report(bed, site: 1)
        #expect(report.viewers > 0)
        #expect(report.withErrors == 0, "\(report.errors)")
        let client = try Self.store(bed)
        #expect(await Self.placements(client, site: 1).count == 1)
        #expect(Self.caches(bed, site: 1).count == 1)
        await client.close()
        await bed.down()
    }

    @Test func killedEtcdMemberIsInvisibleToViewers() async throws {
        let bed = Self.bed()
        await bed.down()
        _ = try await bed.up()
        let players = Self.viewers(bed, site: 1, rate: 0.5, duration: 15, watch: "10-15")
        #expect(await TestStack.eventually { !Self.caches(bed, site: 1).isEmpty })
        #expect(bed.signal("etcd1", matching: "etcd", SIGKILL) == 1)
        // The cluster keeps quorum: a new site still gets a cache.
        #expect(await TestStack.eventually { await Self.route(bed, site: 3).instance != nil })
        await players.exited()
        let report = Self.report(bed, site: 1)
        #expect(report.viewers > 0)
        #expect(report.withErrors == 0, "\(report.errors)")
        await bed.down()
    }

    @Test func cutOffSiteIsMarkedLostAndReconcilesWithoutDuplicatesWhenBack() async throws {
        let bed = Self.bed()
        await bed.down()
        _ = try await bed.up()
        let first = await Self.route(bed, site: 1)
        let instance = try #require(first.instance)
        try bed.setLink("site1", up: false)
        // Once the agent's lease lapses, new viewers of site 1 go to the origin.
        let rerouted = await TestStack.eventually { await Self.route(bed, site: 1).reason == "site lost" }
        #expect(rerouted)
        #expect(await Self.fetch(bed, site: 1) == 200)
        try bed.setLink("site1", up: true)
        // Back: the agent stops the lost instance (no placement wants it); a new viewer gets one new cache.
        let healed = await TestStack.eventually {
            let r = await Self.route(bed, site: 1)
            return r.instance != nil && r.instance != instance
        }
        #expect(healed)
        try await Task.sleep(for: .seconds(3))
        #expect(Self.caches(bed, site: 1).count == 1)
        let client = try Self.store(bed)
        #expect(await Self.placements(client, site: 1).count == 1)
        await client.close()
        await bed.down()
    }

    @Test func restartedAgentAdoptsItsRunningCaches() async throws {
        let bed = Self.bed()
        await bed.down()
        _ = try await bed.up()
        let first = await Self.route(bed, site: 2)
        let instance = try #require(first.instance)
        let pids = Self.caches(bed, site: 2)
        #expect(pids.count == 1)
        #expect(bed.signal("site2", matching: "ecdn agent", SIGKILL) == 1)
        try bed.startAgent(2)
        try await Task.sleep(for: .seconds(5))
        // The same process still serves, under the same instance, and no second one started.
        #expect(Self.caches(bed, site: 2) == pids)
        #expect(await Self.route(bed, site: 2).instance == instance)
        #expect(await Self.fetch(bed, site: 2) == 200)
        await bed.down()
    }

    @Test func restartedRouterServesFromEtcdWithinASecond() async throws {
        let bed = Self.bed()
        await bed.down()
        _ = try await bed.up()
        let instance = try #require(await Self.route(bed, site: 3).instance)
        #expect(bed.signal("rtr1", matching: "ecdn router", SIGKILL) == 1)
        try bed.startRouter(1)
        let started = Date()
        let served = await TestStack.eventually { await Self.route(bed, site: 3).instance == instance }
        #expect(served)
        // Generous: the measurement script times this; here only that it is quick at all.
        #expect(Date().timeIntervalSince(started) < 5)
        await bed.down()
    }

    @Test func etcdDownForThirtySecondsKeepsViewersServedAndControlResumes() async throws {
        let bed = Self.bed()
        await bed.down()
        _ = try await bed.up()
        let instance = try #require(await Self.route(bed, site: 1).instance)
        let players = Self.viewers(bed, site: 1, rate: 0.3, duration: 40, watch: "20-30")
        for n in 1...3 { bed.signal("etcd\(n)", matching: "etcd", SIGKILL) }
        var failures = 0
        let outage = Date()
        while Date().timeIntervalSince(outage) < 30 {
            let r = await Self.route(bed, site: 1)
            if r.instance != instance { failures += 1 }
            try await Task.sleep(for: .seconds(1))
        }
        for n in 1...3 { try bed.startEtcd(n) }
        #expect(failures == 0)
        // Control resumes: a site without a cache gets one.
        #expect(await TestStack.eventually { await Self.route(bed, site: 2).instance != nil })
        await players.exited()
        let report = Self.report(bed, site: 1)
        #expect(report.withErrors == 0, "\(report.errors)")
        await bed.down()
    }
}
