import ArgumentParser
import ElasticControl
import EtcdClient
import Foundation
import HTTPToolkit
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Options every role of the distributed control plane takes.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The etcd cluster: etcd://HOST:PORT[,HOST:PORT...], or https://... for TLS.", valueName: "URL"))
    var store: String

    @OptionGroup var tls: EtcdTLSOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "notice"

    func validate() throws {
        do { _ = try tls.configuration(store: store) } catch { throw ValidationError(error.message) }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, notice, warning or error") }
    }

    var etcd: EtcdConfiguration { (try? tls.configuration(store: store)) ?? EtcdConfiguration(endpoints: []) }

    /// A client of the store; a TLS file that is missing or unusable ends the process with one line naming it.
    func connect(group: any EventLoopGroup) -> EtcdClient {
        do {
            return try EtcdClient(configuration: etcd, eventLoopGroup: group)
        } catch {
            Up.fail("\(error)")
        }
    }
}

/// Runs `services` until SIGTERM or SIGINT, or until one fails; returns its error (logged).
@discardableResult
func runServices(_ services: [any Service], logger: Logger) async -> (any Error)? {
    let group = ServiceGroup(configuration: .init(
        services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
    ))
    do {
        try await group.run()
        return nil
    } catch {
        logger.error("stopped with an error", metadata: ["error": "\(error)"])
        return error
    }
}

/// `ecdn controller`: one controller of the distributed control plane.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run a controller of the distributed control plane (one leads, the others stand by).",
        discussion: """
            Controllers campaign for the lease-backed leader key in etcd; the leader starts and \
            stops caches at sites (the same policy as `ecdn up` and `ecdn simulate`), committing \
            each decision in a transaction that holds only while it leads. When the leader dies, \
            a standby leads within the lease TTL. GET /api/leader on any controller answers \
            {"id": "<leader>"}; the other /api paths and the dashboard are those of `ecdn up`. \
            With --tls-cert and --tls-key the API and dashboard serve HTTPS; with --cache-tls the \
            caches it places serve HTTPS: give every controller the same --cache-tls (one started \
            otherwise while another runs stops with an error).
            """
    )

    @OptionGroup var store: StoreOptions

    @OptionGroup(title: "HTTPS of the API and dashboard") var https: ServerTLSOptions

    @Flag(help: "Place caches that serve HTTPS (their agents need --tls-cert and --tls-key); routers send viewers to https:// URLs.")
    var cacheTls = false

    @Option(help: "This controller's name (unique in the cluster).")
    var id = "controller-\(ProcessInfo.processInfo.hostName)-\(getpid())"

    @Option(help: ArgumentHelp("Address of the API and dashboard.", valueName: "ADDR:PORT"))
    var api = "127.0.0.1:8001"

    @Option(help: "elastic (caches on demand) or fixed (one cache per site and tenant, always on).")
    var mode = "elastic"

    @Option(help: ArgumentHelp("Seconds without viewers before a cache stops.", valueName: "S"))
    var idleTimeout: Double = 30

    @Option(help: ArgumentHelp("Seconds of the controller's lease (a standby takes over within this).", valueName: "S"))
    var leaseTTL: Int64 = 2

    func validate() throws {
        guard ControllerConfiguration.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be elastic or fixed") }
        guard HostPort(api) != nil else { throw ValidationError("--api must be ADDR:PORT") }
        guard leaseTTL >= 1 else { throw ValidationError("--lease-ttl must be at least 1") }
    }

    func run() async throws {
        let logger = Up.bootstrapLogging(store.logLevel)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let client = store.connect(group: group)
        var policy = ControllerConfiguration(mode: ControllerConfiguration.Mode(rawValue: mode) ?? .elastic)
        policy.idleTimeout = idleTimeout
        policy.instanceTLS = cacheTls
        let controller = ClusterController(
            configuration: ClusterControllerConfiguration(id: id, leaseTTL: leaseTTL, controller: policy), client: client, logger: logger
        )
        let address = HostPort(api) ?? HostPort("127.0.0.1:8001")!
        let server: ClusterAPIServer
        do {
            server = try await ClusterAPIServer(host: address.host, port: address.port, tls: https.files, controller: controller, group: group, logger: logger)
        } catch {
            Up.fail("\(error)")
        }
        controller.advertise(url: server.url)
        print("api: \(server.url)/api")
        print("dashboard: \(server.url)/")
        print("controller: \(id) (store \(store.etcd.url))")
        fflush(nil)
        let failure = await runServices([controller, server], logger: logger)
        await client.close()
        try? await group.shutdownGracefully()
        if let failure { Up.fail("\(failure)") }
    }
}

/// `ecdn agent`: the agent of one site host.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the agent of one site host: it starts and stops that site's caches as the leader placed them.",
        discussion: """
            The agent watches its site's placements in etcd, runs each placed cache as a \
            `minicache` process on this host, reports each one's state and load under its lease, \
            and reconciles after any restart or reconnect: caches that still run are adopted \
            (never started twice), caches that no placement wants are stopped. Its caches outlive \
            the agent, so stopping or restarting it does not interrupt viewers. Caches placed with \
            HTTPS (`ecdn controller --cache-tls`) serve it with --tls-cert and --tls-key, which \
            must name the site's cache addresses.
            """
    )

    @OptionGroup var store: StoreOptions

    @OptionGroup(title: "HTTPS of the caches") var https: ServerTLSOptions

    @Option(help: ArgumentHelp("PEM file of the CA that signed the origins' certificates (https:// origins; default: the system's trust roots).", valueName: "FILE"))
    var originCa: String?

    @Option(help: "The site this host serves (as named in the store's sites/).")
    var site: String

    @Option(help: ArgumentHelp("The minicache executable (default: next to ecdn).", valueName: "PATH"))
    var minicache: String?

    @Option(help: ArgumentHelp("Folder for instance volumes, pid files and logs (kept across agent restarts).", valueName: "DIR"))
    var workDir: String?

    @Option(help: ArgumentHelp("Seconds of the agent's lease (its caches are marked lost this long after it is cut off).", valueName: "S"))
    var leaseTTL: Int64 = 3

    @Option(help: "Bytes of each instance's volume.")
    var volumeSize: Int64 = 256 << 20

    @Option(help: ArgumentHelp("Seconds a starting cache has to become ready before it is stopped and reported (a slower backend's own minimum still applies).", valueName: "S"))
    var readyTimeout: Double = 5

    @Option(help: ArgumentHelp("What runs this host's caches: process, sandbox, oci or microvm (all but process need root; docs/backends.md). Instances live in DIR/KIND/.", valueName: "KIND"))
    var backend = BackendKind.process.rawValue

    @Option(help: ArgumentHelp(
        "The bearer token of the caches' admin listeners, which other hosts can reach (default: DIR/admin.token, created with a random token when missing).",
        valueName: "FILE"
    ))
    var adminTokenFile: String?

    func validate() throws {
        guard BackendKind(rawValue: backend) != nil else {
            throw ValidationError("--backend must be one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard readyTimeout > 0 else { throw ValidationError("--ready-timeout must be more than 0 seconds") }
    }

    func run() async throws {
        let logger = Up.bootstrapLogging(store.logLevel)
        let minicachePath = minicache ?? Up.siblingExecutable("minicache")
        guard FileManager.default.isExecutableFile(atPath: minicachePath) else {
            Up.fail("no minicache executable at \(minicachePath): build it (swift build --product minicache) or pass --minicache PATH")
        }
        let work = workDir ?? "/tmp/ecdn-agent-\(site)"
        let tokenFile = adminTokenFile ?? work + "/admin.token"
        if let files = https.files {
            // Checked now, not when the first HTTPS cache fails to start.
            do { _ = try files.serverContext() } catch { Up.fail("--tls-cert/--tls-key: \(error.message)") }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = store.connect(group: group)
        let backend: any SiteBackend
        let token: String
        do {
            try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            token = try AdminTokenFile.prepare(tokenFile)
            let instances = ProcessBackendConfiguration(
                minicachePath: minicachePath, workDirectory: work, volumeSize: volumeSize, detached: true, adminTokenFile: tokenFile,
                tls: https.files, originCA: originCa
            )
            backend = try (BackendKind(rawValue: self.backend) ?? .process).makeBackend(BackendSettings(instances: instances), logger: logger)
        } catch {
            Up.fail("\(error)")
        }
        let agent = SiteAgent(
            configuration: SiteAgentConfiguration(site: site, leaseTTL: leaseTTL, readyTimeout: readyTimeout, adminToken: token), backend: backend, client: client, group: group, logger: logger
        )
        print("agent: \(site) (store \(store.etcd.url), work \(work))")
        fflush(nil)
        await runServices([agent], logger: logger)
        // The caches keep running for the next agent to adopt; only the membership ends.
        await agent.shutdown(stopInstances: false)
        await client.close()
        try? await group.shutdownGracefully()
    }
}

/// `ecdn router`: a stateless router of the distributed control plane.
struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Run a router of the distributed control plane (stateless; run as many as you like).",
        discussion: """
            The router keeps a local view of sites, tenants and ready caches from one etcd watch \
            (no etcd round trip per viewer), answers each viewer with a 302 to its site's cache or \
            the origin, and reports demand to etcd in batches (one write per site per second at \
            most, plus one early report when a site needs a cache). When etcd is unreachable it \
            keeps routing from its last view. With --tls-cert and --tls-key it serves HTTPS.
            """
    )

    @OptionGroup var store: StoreOptions

    @OptionGroup(title: "HTTPS") var https: ServerTLSOptions

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "ADDR:PORT"))
    var listen = "127.0.0.1:8000"

    @Option(help: "This router's name (unique in the cluster).")
    var id = "router-\(ProcessInfo.processInfo.hostName)-\(getpid())"

    @Option(help: ArgumentHelp("Client-prefix table: lines of `A.B.C.D/LEN SITE` (default: the sites' prefixes).", valueName: "FILE"))
    var prefixTable: String?

    @Option(help: ArgumentHelp("Seconds a viewer is held for a booting cache (0: send to the origin meanwhile).", valueName: "S"))
    var routerWait: Double = 1

    @Option(help: ArgumentHelp("Seconds between checks of every ready cache (a TCP connect); one that fails gets no viewers until one succeeds (0: no periodic checks).", valueName: "S"))
    var cacheCheckInterval: Double = 1

    @Option(help: ArgumentHelp("Seconds a check waits for a cache; a viewer back for what it was sent to a cache for is sent there again only after a fresh check (0: no checks at all).", valueName: "S"))
    var cacheCheckTimeout: Double = 0.5

    @Option(help: ArgumentHelp("Event loop threads serving viewers and etcd (default: the CPUs this process may run on, as taskset or a cpuset allows).", valueName: "N"))
    var threads: Int?

    func validate() throws {
        guard HostPort(listen) != nil else { throw ValidationError("--listen must be ADDR:PORT") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
        guard routerWait >= 0 else { throw ValidationError("--router-wait must not be negative") }
        guard cacheCheckInterval >= 0, cacheCheckTimeout >= 0 else { throw ValidationError("--cache-check-interval and --cache-check-timeout must not be negative") }
    }

    func run() async throws {
        let logger = Up.bootstrapLogging(store.logLevel)
        var table: PrefixTable?
        if let prefixTable {
            do {
                table = try PrefixTable(parsing: try String(contentsOfFile: prefixTable, encoding: .utf8))
            } catch {
                Up.fail("--prefix-table \(prefixTable): \(error)")
            }
        }
        // More loops than CPUs only adds thread switches to a viewer's wait: a router pinned to
        // one core answers from one loop.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? CPUAffinity.count)
        let client = store.connect(group: group)
        var policy = ControllerConfiguration()
        policy.routerWait = routerWait
        let address = HostPort(listen) ?? HostPort("127.0.0.1:8000")!
        let router: ClusterRouter
        do {
            router = try await ClusterRouter(
                configuration: ClusterRouterConfiguration(
                    id: id, host: address.host, port: address.port, prefixTable: table, controller: policy,
                    cacheCheckInterval: cacheCheckInterval, cacheCheckTimeout: cacheCheckTimeout, tls: https.files
                ),
                client: client, group: group, logger: logger
            )
        } catch {
            Up.fail("\(error)")
        }
        print("router: \(router.url)")
        fflush(nil)
        await runServices([router], logger: logger)
        await client.close()
        try? await group.shutdownGracefully()
    }
}

/// `ADDR:PORT`.
struct HostPort {
    var host: String
    var port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        host = String(text[..<colon])
        self.port = port
        guard !host.isEmpty else { return nil }
    }
}
