import ElasticControl
import Foundation
import HTTPToolkit
import Logging
import MediaOrigin
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Testing

/// Binaries built next to the test bundle.
enum Binaries {
    static var directory: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: me).deletingLastPathComponent()
        // xctest bundles on Linux are executables in the build folder itself, or inside *.xctest.
        while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent("minicache").path) {
            url = url.deletingLastPathComponent()
        }
        return url.path
    }
    static var minicache: String { directory + "/minicache" }
    static var ecdn: String { directory + "/ecdn" }
    static var sandboxProbe: String { directory + "/sandbox-probe" }
}

/// `ecdn up` as a child process, with the lines it printed (`router`, `api`, `dashboard`,
/// `origin`, `ca` with --tls, `try`).
struct UpProcess {
    let process: Process
    let lines: [String: String]

    /// Starts `ecdn ARGUMENTS` and reads its output until the `try:` line, its last (or `timeout`).
    init(_ arguments: [String], timeout: Double = 60) async throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.ecdn)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let printed = ChildOutput(output.fileHandleForReading)
        _ = await printed.wait(timeout: timeout) { ChildOutput.values(in: $0)["try"] != nil }
        self.lines = printed.values
    }
}

enum TestEnvironment {
    static let slow = ProcessInfo.processInfo.environment["MINICACHE_SLOW_TESTS"] == "1"
    static var logger: Logger {
        var logger = Logger(label: "ecdn-test")
        logger.logLevel = .warning
        return logger
    }

    static func temporaryDirectory(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "ecdn-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Origin, process (or sandbox) backend, controller and router on one loopback site range, run in
/// a ServiceGroup. Each test picks its own `octet` so sites (127.0.octet.0/24) never collide
/// between tests.
final class TestStack: Sendable {
    let origin: DemoOrigin
    let backend: any SiteBackend
    let controller: Controller
    let router: Router
    let serviceGroup: ServiceGroup
    let runner: Task<Void, Never>
    let work: String

    static let group = MultiThreadedEventLoopGroup.singleton

    init(
        octet: Int, sites siteCount: Int = 1, controller configure: (inout ControllerConfiguration) -> Void = { _ in },
        minicache: String = Binaries.minicache, origin originConfiguration: DemoOriginConfiguration = DemoOriginConfiguration(),
        sandbox: SandboxConfiguration? = nil, extraArguments: [String] = ["--threads", "1"], volumeSize: Int64 = 16 << 20,
        siteConfigurations: [SiteConfiguration]? = nil
    ) async throws {
        let logger = TestEnvironment.logger
        work = TestEnvironment.temporaryDirectory("stack\(octet)")
        origin = try await DemoOrigin(configuration: originConfiguration, group: Self.group, logger: logger)
        let instances = ProcessBackendConfiguration(
            minicachePath: minicache, workDirectory: work, volumeSize: volumeSize, extraArguments: extraArguments
        )
        if let sandbox {
            backend = try SandboxBackend(configuration: sandbox, instances: instances, logger: logger)
        } else {
            backend = try ProcessBackend(configuration: instances, logger: logger)
        }
        // Boots, status answers and the router's hold on a booting cache get safety margins for a
        // busy machine: a test that means a shorter one sets it.
        var configuration = ControllerConfiguration(
            tick: 0.2, idleTimeout: 30, routerWait: 20, readyTimeout: 60, stopGrace: 2, statusTimeout: 5
        )
        configure(&configuration)
        let sites = siteConfigurations ?? SiteConfiguration.loopbackSites(siteCount, firstOctet: octet)
        let tenants = [TenantConfiguration(name: "default", origin: origin.url)]
        controller = try Controller(configuration: configuration, sites: sites, tenants: tenants, backend: backend, group: Self.group, logger: logger)
        router = try await Router(configuration: RouterConfiguration(port: 0), controller: controller, group: Self.group, logger: logger)
        serviceGroup = ServiceGroup(configuration: .init(services: [origin, controller, router], logger: logger))
        let serviceGroup = serviceGroup
        runner = Task { try? await serviceGroup.run() }
    }

    var client: HTTPClientForTests { HTTPClientForTests() }

    func stop() async {
        await serviceGroup.triggerGracefulShutdown()
        await runner.value
        try? FileManager.default.removeItem(atPath: work)
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes.
    ///
    /// The timeout is a safety margin for a stuck test on a busy machine, not a claim about speed
    /// (speeds are measured by scripts/measure-ecdn.sh).
    static func eventually(timeout: Double = 30, _ condition: () async -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }
}

/// A thin wrapper over the package's client for tests.
/// What an instance's admin listener answers for its status without its token, and with it.
enum AdminTokenCheck {
    static func statuses(adminURL: String, token: String) async throws -> (without: Int, with: Int) {
        let client = HTTPClientForTests()
        let without = try await client.get(adminURL + "/admin/status").status
        let with = try await client.get(adminURL + "/admin/status", headers: [("Authorization", "Bearer \(token)")]).status
        return (without, with)
    }

    /// Expects the admin listener to answer 401 without the token and 200 with it, and the
    /// token's copy in the instance's own `/data` (seen through the root of its process `pid`)
    /// to be readable by its user (nobody) alone.
    static func expectAsked(adminURL: String, token: String, copyInRootOf pid: Int32) async throws {
        let answers = try await statuses(adminURL: adminURL, token: token)
        #expect(answers.without == 401)
        #expect(answers.with == 200)
        let copy = owner(of: "/proc/\(pid)/root/data/admin.token")
        #expect(copy?.mode == 0o400 && copy?.uid == 65534)
    }

    /// Mode bits and owner of `path`.
    static func owner(of path: String) -> (mode: Int, uid: Int)? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, let uid = (attributes[.ownerAccountID] as? NSNumber)?.intValue
        else { return nil }
        return (mode, uid)
    }
}

struct HTTPClientForTests {
    let client: HTTPClient

    /// A client that checks `https://` servers against the system's roots.
    ///
    /// A connection that is not made in 2 s is cut, as a player would (a silently cut cache is
    /// retried elsewhere before its viewers' lease ends); a loopback connection to a listener is
    /// made by the kernel, however busy the machine. The answer's timeout is a safety margin for
    /// a busy machine and outlasts a ``TestStack`` router's wait for a booting cache.
    init() {
        self.client = HTTPClient(group: MultiThreadedEventLoopGroup.singleton, connectTimeout: .seconds(2), timeout: .seconds(60))
    }

    /// A client that checks `https://` servers against the CA certificates in `caFile`.
    init(caFile: String) throws {
        let tls = try HTTPClient.trusting(caFile: caFile)
        self.client = HTTPClient(group: MultiThreadedEventLoopGroup.singleton, connectTimeout: .seconds(2), timeout: .seconds(60), tls: tls)
    }

    func get(_ url: String, from address: String? = nil, headers: [(String, String)] = []) async throws -> HTTPClientResponse {
        try await client.request(.GET, try HTTPURL(url, schemes: [.http, .https]), headers: .init(headers), localAddress: address)
    }
}
