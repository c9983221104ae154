@testable import ElasticControl
import EtcdClient
import Foundation
import Logging
import MediaOrigin
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Testing

/// An `ecdn` child process whose `name: value` lines are read as they come.
final class ECDNProcess: Sendable {
    let process = Process()
    private let output: ChildOutput

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.ecdn)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        let log = NSTemporaryDirectory() + "ecdn-\(arguments.first ?? "")-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        logPath = log
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        output = ChildOutput(pipe.fileHandleForReading)
    }

    /// The child's standard error (its log).
    let logPath: String
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until a line `name: ...` arrived; returns its value.
    func value(_ name: String, timeout: Double = 60) async throws -> String {
        _ = await output.wait(timeout: timeout) { ChildOutput.values(in: $0)[name] != nil }
        guard let value = output.values[name] else { throw ControlError(.timeout, "no '\(name):' line from ecdn \(process.arguments ?? [])") }
        return value
    }

    func kill9() async {
        await process.stop(SIGKILL)
    }

    func stop() async {
        await process.stop()
    }
}

/// The distributed control plane against a real etcd: controllers elect a leader and fail
/// over, an agent runs what the leader placed, a router routes from its watch.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct ClusterTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// Origin, sites and tenants in etcd, one agent and one router in this process.
    final class Stack: @unchecked Sendable {
        let etcd: EtcdTestServer
        let client: EtcdClient
        let origin: DemoOrigin
        let agent: SiteAgent
        let backend: ProcessBackend
        let router: ClusterRouter
        let services: ServiceGroup
        let runner: Task<Void, Never>
        let work: String
        let octet: Int

        init(octet: Int) async throws {
            self.octet = octet
            let logger = TestEnvironment.logger
            etcd = try await EtcdTestServer.start()
            client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
            origin = try await DemoOrigin(configuration: DemoOriginConfiguration(port: 0), group: ClusterTests.group, logger: logger)
            let sites = SiteConfiguration.loopbackSites(1, firstOctet: octet)
            try await ClusterSeed.write(client: client, sites: sites, tenants: [TenantConfiguration(name: "default", origin: origin.url)])
            work = TestEnvironment.temporaryDirectory("cluster\(octet)")
            backend = try ProcessBackend(
                configuration: ProcessBackendConfiguration(
                    minicachePath: Binaries.minicache, workDirectory: work, volumeSize: 16 << 20, detached: true
                ),
                logger: logger
            )
            agent = SiteAgent(configuration: SiteAgentConfiguration(site: "site1", readyTimeout: 60, stopGrace: 2), backend: backend, client: client, group: ClusterTests.group, logger: logger)
            router = try await ClusterRouter(
                configuration: ClusterRouterConfiguration(id: "router-test", port: 0, controller: ControllerConfiguration(routerWait: 20)),
                client: client, group: ClusterTests.group, logger: logger
            )
            services = ServiceGroup(configuration: .init(services: [origin, agent, router], logger: logger))
            let services = services
            runner = Task { try? await services.run() }
        }

        func stop() async {
            await services.triggerGracefulShutdown()
            await runner.value
            await agent.shutdown(stopInstances: true)
            await client.close()
            etcd.destroy()
            try? FileManager.default.removeItem(atPath: work)
        }

        func controller(_ id: String) throws -> ECDNProcess {
            try ECDNProcess(["controller", "--store", etcd.url, "--id", id, "--api", "127.0.0.1:0", "--idle-timeout", "60", "--log-level", "info"])
        }

        func placements() async throws -> [PlacementRecord] {
            try await client.snapshot(prefix: ClusterKeys().placements).keyValues.compactMap { ClusterRecords.decode(PlacementRecord.self, from: $0.value) }
        }
    }

    static func leader(_ api: String) async -> String? {
        guard let response = try? await HTTPClientForTests().get(api + "/leader"),
              let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] else { return nil }
        return object["id"] as? String
    }

    @Test func killedLeaderIsReplacedByTheStandbyWhileViewersKeepTheirCache() async throws {
        let stack = try await Stack(octet: 157)
        let a = try stack.controller("ctl-a")
        let apiA = try await a.value("api")
        let b = try stack.controller("ctl-b")
        let apiB = try await b.value("api")
        // One leader, and both APIs name it.
        let agreed = await TestStack.eventually {
            let (la, lb) = (await Self.leader(apiA), await Self.leader(apiB))
            return la != nil && la == lb
        }
        #expect(agreed)
        let first = try #require(await Self.leader(apiA))
        let (leader, standby, standbyAPI) = first == "ctl-a" ? (a, "ctl-b", apiB) : (b, "ctl-a", apiA)

        // A viewer at the site: the leader places a cache, the agent starts it, the router sends the viewer there.
        let client = HTTPClientForTests()
        let redirect = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.157.5")
        let instance = try #require(redirect.headers.first(name: "X-ECDN-Instance"))
        let location = try #require(redirect.headers.first(name: "Location"))
        let pid = try #require(stack.backend.pid(of: instance))

        await leader.kill9()
        // Viewers keep being sent to the same cache, and it answers, while the leadership moves.
        var errors = 0
        var requests = 0
        let moved = await TestStack.eventually {
            requests += 1
            let r = try? await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.157.6")
            if r?.headers.first(name: "X-ECDN-Instance") != instance { errors += 1 }
            if let answer = try? await client.get(location), answer.status >= 500 { errors += 1 }
            try? await Task.sleep(for: .milliseconds(100))
            return await Self.leader(standbyAPI) == standby
        }
        #expect(moved)
        #expect(errors == 0)
        #expect(requests > 0)
        // The new leader adopted the placement: no second instance, the same process still serves.
        try await Task.sleep(for: .seconds(2))
        let placements = try await stack.placements()
        #expect(placements.map(\.id) == [instance], "\(a.log)\n----\n\(b.log)")
        #expect(stack.backend.pid(of: instance) == pid)
        #expect(stack.agent.instances.map(\.id) == [instance])
        let events = try await client.get(standbyAPI + "/events")
        #expect(String(buffer: events.body).contains("\"kind\":\"lead\""))
        await a.stop()
        await b.stop()
        await stack.stop()
    }
}
