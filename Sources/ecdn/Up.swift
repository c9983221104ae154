import ArgumentParser
import ElasticControl
import EtcdClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// `ecdn up`: the whole elastic CDN on one machine.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an elastic CDN on this machine: origin, three sites, router, controller, API and dashboard.",
        discussion: """
            Nothing to prepare: sites site1..site3 own the client prefixes 127.0.1.0/24, \
            127.0.2.0/24 and 127.0.3.0/24; each site's caches are `minicache` child processes on \
            127.0.N.10 and up. Viewers ask the router for /live/<n>/index.m3u8 and get a 302 to \
            their site's cache (started on the first viewer, stopped after --idle-timeout \
            seconds without viewers) or to the origin. Prints `router:`, `api:`, `dashboard:` \
            and `origin:` lines once everything accepts. Ctrl-C or SIGTERM stops every child.
            Try: ecdn up --demo   (viewers that come and go; watch the dashboard)
            """
    )

    @Flag(help: "Run viewers that come and go, so caches start on demand and stop when idle.")
    var demo = false

    @Option(help: "Address of the router, API and origin.")
    var host = "127.0.0.1"

    @Option(help: "Router port (a taken port falls back to a free one).")
    var routerPort = 8000

    @Option(help: "API and dashboard port.")
    var apiPort = 8001

    @Option(help: "Demo origin port.")
    var originPort = 8002

    @Option(help: ArgumentHelp("Use this origin instead of the built-in demo origin.", valueName: "URL"))
    var origin: String?

    @Option(help: "Live channels of the demo origin.")
    var channels = 4

    @Option(help: "Sites (site N owns 127.0.N.0/24).")
    var sites = 3

    @Option(help: ArgumentHelp("Site N owns 127.0.(N-1+this).0/24 (move the sites off 127.0.1-3).", valueName: "OCTET"))
    var firstSiteOctet = 1

    @Option(help: ArgumentHelp("Client-prefix table: lines of `A.B.C.D/LEN SITE`.", valueName: "FILE"))
    var prefixTable: String?

    @Option(help: "elastic (caches on demand) or fixed (one cache per site and tenant, always on).")
    var mode: String = "elastic"

    @Option(help: ArgumentHelp("Seconds without viewers before a cache stops.", valueName: "S"))
    var idleTimeout: Double = 30

    @Option(help: ArgumentHelp("Seconds the router holds a viewer for a booting cache (0: send to the origin meanwhile).", valueName: "S"))
    var routerWait: Double = 1

    @Option(help: "Instances per site, all tenants together.")
    var maxInstances = 4

    @Option(help: ArgumentHelp("The minicache executable (default: next to ecdn).", valueName: "PATH"))
    var minicache: String?

    @Option(help: ArgumentHelp("Folder for instance volumes, ready files and logs (default: a fresh one in /tmp, removed at exit).", valueName: "DIR"))
    var workDir: String?

    @Flag(help: "Run only the default tenant (live channels at /), without the `vod` tenant at /vod/.")
    var singleTenant = false

    @Flag(help: "Do not pass --origin to minicache (default: pass it when `minicache serve --help` lists it).")
    var noOriginFlag = false

    @Option(help: ArgumentHelp(
        "Keep the state in etcd and run every role of the distributed control plane in this process (default: in memory).",
        valueName: "etcd://HOST:PORT[,...]"
    ))
    var store: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "notice"

    func validate() throws {
        guard ControllerConfiguration.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be elastic or fixed") }
        guard (1...200).contains(sites), (1...254).contains(firstSiteOctet), firstSiteOctet + sites <= 255 else {
            throw ValidationError("--sites must be 1...200 and --first-site-octet + --sites at most 255")
        }
        guard channels >= 1 else { throw ValidationError("--channels must be at least 1") }
        guard idleTimeout >= 0, routerWait >= 0 else { throw ValidationError("timeouts must not be negative") }
        guard maxInstances >= 1 else { throw ValidationError("--max-instances must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, notice, warning or error") }
        if let store {
            do { _ = try EtcdConfiguration(url: store) } catch { throw ValidationError("--store: \(error.message)") }
        }
    }

    func run() async throws {
        let logger = Self.bootstrapLogging(logLevel)
        let minicachePath = minicache ?? Self.siblingExecutable("minicache")
        guard FileManager.default.isExecutableFile(atPath: minicachePath) else {
            Self.fail("no minicache executable at \(minicachePath): build it (swift build --product minicache) or pass --minicache PATH")
        }
        var passOrigin = !noOriginFlag
        if passOrigin, !(await ProcessBackend.minicacheSupportsOrigin(minicachePath)) {
            passOrigin = false
            let warning = "ecdn: warning: \(minicachePath) has no --origin (pull-through caching): caches start and stop "
                + "on demand but cannot fill from the origin, so viewers sent to them get 404.\n"
            FileHandle.standardError.write(Data(warning.utf8))
        }
        let ownWorkDir = workDir == nil
        let work = workDir ?? "/tmp/ecdn-\(getpid())"
        var table: PrefixTable?
        if let prefixTable {
            do {
                table = try PrefixTable(parsing: try String(contentsOfFile: prefixTable, encoding: .utf8))
            } catch {
                Self.fail("--prefix-table \(prefixTable): \(error)")
            }
        }
        var siteList = SiteConfiguration.loopbackSites(sites, firstOctet: firstSiteOctet)
        for i in siteList.indices { siteList[i].maxInstances = maxInstances }
        var controller = ControllerConfiguration(mode: ControllerConfiguration.Mode(rawValue: mode) ?? .elastic)
        controller.idleTimeout = idleTimeout
        controller.routerWait = routerWait
        var configuration = ElasticCDNConfiguration(
            host: host, routerPort: routerPort, apiPort: apiPort, originPort: originPort, sites: siteList,
            externalOrigin: origin, origin: DemoOriginConfiguration(channels: channels), controller: controller,
            backend: ProcessBackendConfiguration(minicachePath: minicachePath, workDirectory: work, passOrigin: passOrigin),
            prefixTable: table, demoProfile: demo ? Self.demoProfile(sites: sites) : nil
        )
        if singleTenant {
            configuration.tenants = []
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        if let store, let etcd = try? EtcdConfiguration(url: store) {
            await runDistributed(configuration, etcd: etcd, group: group, logger: logger)
            if ownWorkDir { try? FileManager.default.removeItem(atPath: work) }
            try? await group.shutdownGracefully()
            return
        }
        let cdn: ElasticCDN
        do {
            cdn = try await ElasticCDN(configuration: configuration, group: group, logger: logger)
        } catch {
            Self.fail("\(error)")
        }
        print("router: \(cdn.router.url)")
        print("api: \(cdn.api.url)/api")
        print("dashboard: \(cdn.api.url)/")
        print("origin: \(cdn.originURL)")
        print("try: curl -sL --interface 127.0.\(firstSiteOctet).1 \(cdn.router.url)/live/1/index.m3u8   (Ctrl-C stops everything)")
        fflush(nil)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: cdn.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("stopped with an error", metadata: ["error": "\(error)"])
        }
        if ownWorkDir { try? FileManager.default.removeItem(atPath: work) }
        try? await group.shutdownGracefully()
    }

    /// Every role against etcd, in this process.
    func runDistributed(_ configuration: ElasticCDNConfiguration, etcd: EtcdConfiguration, group: any EventLoopGroup, logger: Logger) async {
        let cdn: ClusterCDN
        do {
            cdn = try await ClusterCDN(configuration: configuration, store: etcd, group: group, logger: logger)
        } catch {
            Self.fail("\(error)")
        }
        print("router: \(cdn.router.url)")
        print("api: \(cdn.api.url)/api")
        print("dashboard: \(cdn.api.url)/")
        print("origin: \(cdn.originURL)")
        print("store: \(etcd.url)")
        fflush(nil)
        await runServices(cdn.services, logger: logger)
        await cdn.shutdown()
    }

    /// The demo profile for `sites` sites: viewers move from site to site and leave.
    static func demoProfile(sites: Int) -> LoadProfile {
        let base = LoadProfile.demo
        return LoadProfile(steps: base.steps.map { step in
            LoadProfile.Step(start: step.start, rates: (0..<sites).map { $0 < step.rates.count ? step.rates[$0] : 0 })
        }, period: base.period)
    }

    static func bootstrapLogging(_ level: String) -> Logger {
        let level = Logger.Level(rawValue: level) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "ecdn")
    }

    /// `name` in the folder of the running executable.
    static func siblingExecutable(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ecdn: error: \(message)\n".utf8))
        Foundation.exit(1)
    }
}
