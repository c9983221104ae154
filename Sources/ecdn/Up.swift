import ArgumentParser
import ElasticControl
import EtcdClient
import Foundation
import HTTPToolkit
import LocalCA
import Logging
import MediaOrigin
import NIOCore
import NIOPosix
import PlayerLoad
import ServiceLifecycle
import UnixSignals

/// `ecdn up`: the whole elastic CDN on one machine.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an elastic CDN on this machine: origin, three sites, router, controller, API and dashboard.",
        discussion: """
            Nothing to prepare: sites site1..site3 own the client prefixes 127.0.1.0/24, \
            127.0.2.0/24 and 127.0.3.0/24; each site's caches are `minicache` child processes on \
            127.0.N.10 and up (--backend sandbox: each in its own namespaces, read-only root, \
            cgroups and seccomp filter, with its address on its own veth; --backend oci: runc \
            containers of an OCI image; --backend microvm: QEMU microVMs booting the host's \
            kernel; all three need root). Viewers ask the router for /live/<n>/index.m3u8 and get a 302 to \
            their site's cache (started on the first viewer, stopped after --idle-timeout \
            seconds without viewers) or to the origin. Prints `router:`, `api:`, `dashboard:` \
            and `origin:` lines once everything accepts (with --tls, https:// URLs and a `ca:` line: \
            the local CA file that signed the router's, the API's, the demo origin's and every \
            cache's certificate). Ctrl-C or SIGTERM stops every child.
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

    @Option(help: ArgumentHelp("Seconds a starting cache has to become ready before it is stopped and reported (a slower backend's own minimum still applies).", valueName: "S"))
    var readyTimeout: Double = 5

    @Option(help: "Instances per site, all tenants together.")
    var maxInstances = 4

    @Option(help: ArgumentHelp("What runs every site's caches: process, sandbox (root), oci or microvm.", valueName: "KIND"))
    var backend = BackendKind.process.rawValue

    @Option(help: ArgumentHelp("One site's backend, e.g. site2=sandbox (repeatable; overrides --backend).", valueName: "SITE=KIND"))
    var siteBackend: [String] = []

    @Option(help: ArgumentHelp("Sandbox and oci: memory limit of each instance.", valueName: "MIB"))
    var instanceMemory = 128

    @Option(help: ArgumentHelp("Sandbox and oci: CPU limit of each instance, in cores.", valueName: "CORES"))
    var instanceCpus = 1.0

    @Option(help: ArgumentHelp("Sandbox and oci: process and thread limit of each instance.", valueName: "N"))
    var instancePids = 64

    @Option(help: ArgumentHelp("Oci: the image `ecdn image oci` wrote (default: one written at start from --minicache).", valueName: "DIR"))
    var ociImage: String?

    @Option(help: ArgumentHelp("Oci: the OCI runtime (runc; crun refuses hybrid cgroup hosts).", valueName: "NAME|PATH"))
    var ociRuntime = "runc"

    @Option(help: ArgumentHelp("Microvm: the image `ecdn image vm` wrote (default: one written at start from --minicache and /boot).", valueName: "DIR"))
    var vmImage: String?

    @Option(help: ArgumentHelp("Microvm: auto (KVM, falling back to TCG when a guest does not come up), kvm or tcg.", valueName: "KIND"))
    var vmAccelerator = MicroVMConfiguration.Accelerator.auto.rawValue

    @Option(help: ArgumentHelp("Microvm: guest memory (default: sized from the image's initramfs).", valueName: "MIB"))
    var vmMemory: Int?

    @Option(help: ArgumentHelp(
        "Sandbox: limits of all of one tenant's instances on this host together, e.g. vod:memory=512,cpus=1.5,pids=256 (repeatable; TENANT * for every tenant not named).",
        valueName: "TENANT:LIMITS"
    ))
    var tenantLimits: [String] = []

    @Option(help: ArgumentHelp("The minicache executable (default: next to ecdn).", valueName: "PATH"))
    var minicache: String?

    @Option(help: ArgumentHelp("Folder for instance volumes, ready files and logs (default: a fresh one in /tmp, removed at exit).", valueName: "DIR"))
    var workDir: String?

    @Flag(help: "Run only the default tenant (live channels at /), without the `vod` tenant at /vod/.")
    var singleTenant = false

    @Option(help: ArgumentHelp(
        "Keep the state in etcd and run every role of the distributed control plane in this process (default: in memory): etcd://HOST:PORT[,...], or https://... for TLS.",
        valueName: "URL"
    ))
    var store: String?

    @OptionGroup(title: "TLS (with an https:// --store) and authentication to etcd") var etcdTLS: EtcdTLSOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "notice"

    @Flag(help: "Serve HTTPS: makes a local CA and one certificate for the router, the API, the demo origin and every cache (process backend; with --store too); prints the CA's path after `ca:`.")
    var tls = false

    func validate() throws {
        guard ControllerConfiguration.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be elastic or fixed") }
        guard (1...200).contains(sites), (1...254).contains(firstSiteOctet), firstSiteOctet + sites <= 255 else {
            throw ValidationError("--sites must be 1...200 and --first-site-octet + --sites at most 255")
        }
        guard channels >= 1 else { throw ValidationError("--channels must be at least 1") }
        guard idleTimeout >= 0, routerWait >= 0 else { throw ValidationError("timeouts must not be negative") }
        guard readyTimeout > 0 else { throw ValidationError("--ready-timeout must be more than 0 seconds") }
        guard maxInstances >= 1 else { throw ValidationError("--max-instances must be at least 1") }
        guard MicroVMConfiguration.Accelerator(rawValue: vmAccelerator) != nil else { throw ValidationError("--vm-accelerator must be auto, kvm or tcg") }
        guard vmMemory.map({ $0 >= 64 }) ?? true else { throw ValidationError("--vm-memory must be at least 64 (MiB)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, notice, warning or error") }
        let kinds = BackendKind.allCases.map(\.rawValue).joined(separator: ", ")
        guard BackendKind(rawValue: backend) != nil else { throw ValidationError("--backend must be one of \(kinds)") }
        for entry in siteBackend {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, BackendKind(rawValue: String(parts[1])) != nil else {
                throw ValidationError("--site-backend takes SITE=KIND with KIND one of \(kinds), not '\(entry)'")
            }
        }
        guard instanceMemory >= 8, instanceCpus > 0, instancePids >= 8 else {
            throw ValidationError("--instance-memory must be at least 8 (MiB), --instance-cpus above 0, --instance-pids at least 8")
        }
        var sandbox = SandboxConfiguration()
        do {
            try sandbox.setTenantLimits(parsing: tenantLimits)
        } catch {
            throw ValidationError("--tenant-limits: \(error.message)")
        }
        if let store {
            do { _ = try etcdTLS.configuration(store: store) } catch { throw ValidationError("--store: \(error.message)") }
        }
        if tls {
            guard backend == BackendKind.process.rawValue, siteBackend.allSatisfy({ $0.hasSuffix("=\(BackendKind.process.rawValue)") }) else {
                throw ValidationError("--tls serves HTTPS caches on the process backend only; drop --backend and --site-backend")
            }
        }
    }

    func run() async throws {
        let logger = Self.bootstrapLogging(logLevel)
        let minicachePath = minicache ?? Self.siblingExecutable("minicache")
        guard FileManager.default.isExecutableFile(atPath: minicachePath) else {
            Self.fail("no minicache executable at \(minicachePath): build it (swift build --product minicache) or pass --minicache PATH")
        }
        var etcd: EtcdConfiguration?
        if let store {
            do throws(EtcdError) {
                etcd = try etcdTLS.configuration(store: store)
                try etcd?.tls?.check()
            } catch {
                Self.fail("\(error)")
            }
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
        let overrides = Dictionary(siteBackend.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            return (parts[0], BackendKind(rawValue: parts[1]) ?? .process)
        }, uniquingKeysWith: { _, last in last })
        for name in overrides.keys where !siteList.contains(where: { $0.name == name }) {
            Self.fail("--site-backend \(name): no such site (sites are site1..site\(sites))")
        }
        for i in siteList.indices {
            siteList[i].maxInstances = maxInstances
            siteList[i].backend = overrides[siteList[i].name] ?? BackendKind(rawValue: backend) ?? .process
        }
        var controller = ControllerConfiguration(mode: ControllerConfiguration.Mode(rawValue: mode) ?? .elastic)
        controller.idleTimeout = idleTimeout
        controller.routerWait = routerWait
        controller.readyTimeout = readyTimeout
        var tlsFiles: TLSFiles?
        if tls {
            do {
                tlsFiles = try Self.makeCertificates(in: work + "/tls", host: host, sites: siteList)
            } catch {
                Self.fail("cannot make the local CA and certificates in \(work)/tls: \(error)")
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let demoOrigin: DemoOrigin?
        let originURL: String
        let plane: ControlPlane
        let viewers: LoadGenerator?
        do {
            if let origin {
                demoOrigin = nil
                originURL = origin
            } else {
                let o = try await ElasticCDN.withFallback(port: originPort, logger: logger) { port throws(ControlError) in
                    do throws(MediaError) {
                        return try await DemoOrigin(
                            configuration: DemoOriginConfiguration(host: host, port: port, channels: channels, tls: tlsFiles), group: group, logger: logger)
                    } catch {
                        throw ControlError(error.code == .bindFailed ? .bindFailed : .badConfiguration, error.message, underlying: error)
                    }
                }
                demoOrigin = o
                originURL = o.url
            }
            var sandbox = SandboxConfiguration(
                instanceLimits: ResourceLimits(memoryBytes: Int64(instanceMemory) << 20, cpus: instanceCpus, pids: instancePids)
            )
            try sandbox.setTenantLimits(parsing: tenantLimits)
            var configuration = ElasticCDNConfiguration(
                host: host, routerPort: routerPort, apiPort: apiPort, origin: originURL, sites: siteList, controller: controller,
                backend: ProcessBackendConfiguration(
                    minicachePath: minicachePath, workDirectory: work, originCA: demoOrigin == nil ? nil : tlsFiles?.ca
                ),
                sandbox: sandbox,
                oci: OCIConfiguration(image: ociImage, runtime: ociRuntime, instanceLimits: sandbox.instanceLimits),
                microvm: MicroVMConfiguration(
                    image: vmImage, memoryMiB: vmMemory, accelerator: MicroVMConfiguration.Accelerator(rawValue: vmAccelerator) ?? .auto
                ),
                prefixTable: table,
                tls: tlsFiles
            )
            if singleTenant {
                configuration.tenants = []
            }
            if let etcd {
                let cdn = try await ClusterCDN(configuration: configuration, store: etcd, originCounters: { demoOrigin?.counters }, group: group, logger: logger)
                let names = siteList.map(\.name)
                plane = ControlPlane(
                    router: cdn.router.url, api: cdn.api.url, services: cdn.services,
                    ready: {
                        // Until its agent is a member, a site's viewers go to the origin ("site lost").
                        _ = await cdn.view.wait(timeout: 15) { state in names.allSatisfy { state.agents[$0] != nil } }
                    },
                    shutdown: { await cdn.shutdown() }
                )
            } else {
                let cdn = try await ElasticCDN(configuration: configuration, originCounters: { demoOrigin?.counters }, group: group, logger: logger)
                plane = ControlPlane(router: cdn.router.url, api: cdn.api.url, services: cdn.services, ready: {}, shutdown: {})
            }
            if demo {
                let load = LoadConfiguration(
                    router: plane.router, sitePrefixes: siteList.map(\.clientPrefix), siteNames: siteList.map(\.name),
                    channels: channels, profile: Self.demoProfile(sites: sites), duration: nil, watch: 15...45, maxViewers: 40,
                    caFile: tlsFiles?.ca
                )
                viewers = try LoadGenerator(configuration: load, group: group, logger: logger)
            } else {
                viewers = nil
            }
        } catch {
            Self.fail("\(error)")
        }
        var services: [any Service] = []
        if let demoOrigin { services.append(demoOrigin) }
        services += plane.services
        if let viewers { services.append(viewers) }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        let running = Task {
            do {
                try await serviceGroup.run()
            } catch {
                logger.error("stopped with an error", metadata: ["error": "\(error)"])
            }
        }
        // The lines a user (or a script) acts on come once every part serves.
        await plane.ready()
        print("router: \(plane.router)")
        print("api: \(plane.api)/api")
        print("dashboard: \(plane.api)/")
        print("origin: \(originURL)")
        if let store { print("store: \(store)") }
        if let tlsFiles { print("ca: \(tlsFiles.ca)") }
        let trust = tlsFiles.map { "--cacert \($0.ca) " } ?? ""
        print("try: curl -sL \(trust)--interface 127.0.\(firstSiteOctet).1 \(plane.router)/live/1/index.m3u8   (Ctrl-C stops everything)")
        fflush(nil)
        await running.value
        await plane.shutdown()
        if ownWorkDir { try? FileManager.default.removeItem(atPath: work) }
        try? await group.shutdownGracefully()
    }

    /// A local CA in `directory` and one certificate for `localhost`, `host`, 127.0.0.1 and every
    /// address a cache of `sites` can get.
    static func makeCertificates(in directory: String, host: String, sites: [SiteConfiguration]) throws -> TLSFiles {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var names = ["localhost"]
        for name in [host, "127.0.0.1"] + sites.flatMap(\.instanceAddresses) where !names.contains(name) { names.append(name) }
        let paths = try LocalCertificateAuthority(name: "ecdn up local CA", days: 7).write(to: directory, names: names)
        return TLSFiles(certificate: paths.certificate, key: paths.key, ca: paths.ca)
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

/// What `ecdn up` runs between the origin and the viewers: in memory, or every role against etcd.
struct ControlPlane {
    var router: String
    var api: String
    var services: [any Service]
    /// Returns once the services serve viewers (the distributed agents are members).
    var ready: @Sendable () async -> Void
    /// After the services ended (stops the distributed agents' caches).
    var shutdown: @Sendable () async -> Void
}
