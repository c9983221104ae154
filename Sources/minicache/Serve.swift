import ArgumentParser
import HTTPToolkit
import Logging
import Metrics
import MiniCacheServer
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a volume over HTTP and HTTPS until SIGTERM or SIGINT (in-flight responses finish).",
        discussion: """
            Serves GET and HEAD for /?<hex digest>, /<name> and / (the default object), with \
            ranges, conditional requests, redirect links (307) and raw/auto links fetched from the \
            origin (one shared fetch per link). The volume is remounted when its file changes \
            (`shfs add`/`rm` from another process) or on `minicache ctl remount`; so are the TLS \
            certificates (a bad file is refused and the old certificate keeps serving).
            """
    )

    @Argument(help: "The SHFS volume file to serve.")
    var volume: String

    @Option(help: ArgumentHelp("Address and port to serve plain HTTP on (default 0.0.0.0:8080, none when only --listen-tls is given).", valueName: "ADDR:PORT"))
    var listen: String?

    @Option(help: ArgumentHelp("Address and port to serve HTTPS on (HTTP/2 and HTTP/1.1 by ALPN); needs --tls-cert and --tls-key.", valueName: "ADDR:PORT"))
    var listenTls: String?

    @Option(help: ArgumentHelp("A PEM certificate chain for --listen-tls (repeat with --tls-key for each tenant; SNI picks one, the first is the default).", valueName: "FILE"))
    var tlsCert: [String] = []

    @Option(help: ArgumentHelp("The PEM private key of the --tls-cert at the same position.", valueName: "FILE"))
    var tlsKey: [String] = []

    @Option(help: ArgumentHelp("A server name no certificate has: `default` (serve the first certificate) or `reject` (unrecognized_name alert).", valueName: "POLICY"))
    var tlsUnknownName = TLSListenerConfiguration.UnknownServerName.defaultCertificate.rawValue

    @Option(help: ArgumentHelp("Lowest TLS version accepted: 1.2 or 1.3.", valueName: "VERSION"))
    var tlsMinVersion = TLSListenerConfiguration.MinimumVersion.tls12.rawValue

    @Option(help: ArgumentHelp("HTTP/2 streams a connection may have open at once.", valueName: "N"))
    var h2MaxStreams = 100

    @Option(help: ArgumentHelp(
        "Replace the TLS session-ticket keys this often (tickets issued before then get a full handshake); default: BoringSSL's own rotation every 48 hours.",
        valueName: "S"))
    var tlsTicketRotation: Double?

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int = System.coreCount

    @Option(help: "Connections served at once; more are answered 503 and closed.")
    var maxConnections = 10_000

    @Option(help: ArgumentHelp("Close keep-alive connections idle this long.", valueName: "S"))
    var idleTimeout: Double = 60

    @Option(help: ArgumentHelp("A request head must arrive within this time (408 and close).", valueName: "S"))
    var headerTimeout: Double = 10

    @Option(help: ArgumentHelp("Admin listener (status, objects, metrics, remount, prefetch), or `off`.", valueName: "ADDR:PORT"))
    var admin = "127.0.0.1:9080"

    @Option(help: ArgumentHelp("A file whose first line is the token admin requests must carry (Authorization: Bearer); required when --admin is not on loopback.", valueName: "FILE"))
    var adminTokenFile: String?

    @Option(help: ArgumentHelp("Write the URL to this file once the server accepts connections.", valueName: "PATH"))
    var readyFile: String?

    @Flag(help: "Log one line per request.")
    var accessLog = false

    @Option(help: "How objects above the small-object limit are sent: sendfile or read (pooled buffers).")
    var largeObjects: String = LargeObjectStrategy.sendfile.rawValue

    @Option(help: ArgumentHelp("Objects up to this many bytes are kept in memory with their response head.", valueName: "BYTES"))
    var smallObjectLimit = 64 * 1024

    @Option(
        help: ArgumentHelp(
            "Be a pull-through cache of this origin: a GET or HEAD the volume cannot answer is fetched from it, relayed, and kept in the volume.",
            valueName: "URL"
        )
    )
    var origin: String?

    @Option(
        help: ArgumentHelp(
            "Like --origin, with origins chosen by Host and/or path prefix from this file (lines `MATCH http://host[:port]`, MATCH = default, /prefix, host or host/prefix; see docs/caching.md).",
            valueName: "FILE"
        )
    )
    var origins: String?

    @Option(help: ArgumentHelp("With an https:// origin: check its certificate against the CA certificates in this PEM file instead of the system's roots.", valueName: "FILE"))
    var originCa: String?

    @Option(help: ArgumentHelp("With --origin: the largest response body kept in the volume; larger ones stream through.", valueName: "BYTES"))
    var maxStoredObject = 64 << 20

    @Option(help: ArgumentHelp("With --origin: which cached objects a full volume evicts first: lru, s3fifo or sieve.", valueName: "POLICY"))
    var eviction = EvictionKind.lru.rawValue

    @Flag(help: "With --origin: obey Surrogate-Control as well as CDN-Cache-Control over Cache-Control, and announce Surrogate-Capability to the origin.")
    var surrogateControl = false

    @Option(help: ArgumentHelp("Bytes of small objects (the volume's and cached ones) kept in memory; the rest are read from the volume.", valueName: "BYTES"))
    var memoryBudget = 256 << 20

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        if let listen = self.listen {
            do { _ = try HostPort(listenAddress: listen) } catch {
                throw ValidationError("--listen \(error); give ADDR:PORT, e.g. 0.0.0.0:8080 or [::]:8080")
            }
        }
        if let listenTls = self.listenTls {
            do { _ = try HostPort(listenAddress: listenTls) } catch {
                throw ValidationError("--listen-tls \(error); give ADDR:PORT, e.g. 0.0.0.0:8443")
            }
        }
        if self.listenTls != nil, self.tlsCert.isEmpty {
            throw ValidationError("--listen-tls needs a certificate: --tls-cert FILE --tls-key FILE")
        }
        if self.listenTls == nil, !self.tlsCert.isEmpty || !self.tlsKey.isEmpty {
            throw ValidationError("--tls-cert and --tls-key are for --listen-tls ADDR:PORT; add it")
        }
        guard self.tlsCert.count == self.tlsKey.count else {
            throw ValidationError("give one --tls-key for each --tls-cert (\(self.tlsCert.count) certificates, \(self.tlsKey.count) keys)")
        }
        guard TLSListenerConfiguration.UnknownServerName(rawValue: self.tlsUnknownName) != nil else {
            throw ValidationError("--tls-unknown-name must be default or reject")
        }
        guard TLSListenerConfiguration.MinimumVersion(rawValue: self.tlsMinVersion) != nil else {
            throw ValidationError("--tls-min-version must be 1.2 or 1.3")
        }
        guard self.h2MaxStreams >= 1 else { throw ValidationError("--h2-max-streams must be at least 1") }
        if let rotation = self.tlsTicketRotation {
            guard rotation >= 1 else { throw ValidationError("--tls-ticket-rotation must be at least 1 (seconds)") }
            guard self.listenTls != nil else { throw ValidationError("--tls-ticket-rotation is for the TLS listener; add --listen-tls") }
        }
        if self.admin != "off" {
            do { _ = try HostPort(listenAddress: self.admin) } catch {
                throw ValidationError("--admin \(error); give ADDR:PORT (e.g. 127.0.0.1:9080) or off")
            }
        }
        guard self.threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard self.maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard self.idleTimeout > 0, self.headerTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        guard LargeObjectStrategy(rawValue: self.largeObjects) != nil else {
            throw ValidationError("--large-objects must be read or sendfile")
        }
        guard EvictionKind(rawValue: self.eviction) != nil else {
            throw ValidationError("--eviction must be lru, s3fifo or sieve")
        }
        guard self.memoryBudget >= 0 else { throw ValidationError("--memory-budget must not be negative") }
        if self.origin != nil, self.origins != nil {
            throw ValidationError("give either --origin URL or --origins FILE, not both")
        }
        if let origin = self.origin {
            do { _ = try OriginRouter.originAddress(origin) } catch {
                throw ValidationError("--origin \(error.message); give http://host[:port] or https://host[:port] (for a file of origins use --origins FILE)")
            }
        }
        if let origins = self.origins, origins.lowercased().hasPrefix("http://") || origins.lowercased().hasPrefix("https://") {
            throw ValidationError("--origins takes a file; for one origin URL use --origin")
        }
        if self.originCa != nil, self.origin == nil, self.origins == nil {
            throw ValidationError("--origin-ca is for https:// origins; add --origin URL or --origins FILE")
        }
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "minicache")

        let listen = try HostPort(listenAddress: self.listen ?? "0.0.0.0:8080")
        var configuration = ServerConfiguration(
            host: listen.host,
            port: listen.port,
            threads: self.threads,
            maxConnections: self.maxConnections,
            idleTimeout: .nanoseconds(Int64(self.idleTimeout * 1e9)),
            headerTimeout: .nanoseconds(Int64(self.headerTimeout * 1e9)),
            smallObjectLimit: self.smallObjectLimit,
            memoryBudget: self.memoryBudget,
            largeObjectStrategy: LargeObjectStrategy(rawValue: self.largeObjects) ?? .sendfile,
            accessLog: self.accessLog,
            origin: self.origin ?? self.origins,
            maxStoredObjectSize: self.maxStoredObject,
            surrogateControl: self.surrogateControl,
            listensPlain: self.listen != nil || self.listenTls == nil,
            originCA: self.originCa
        )
        if let listenTls = self.listenTls {
            let tlsListen = try HostPort(listenAddress: listenTls)
            configuration.tls = TLSListenerConfiguration(
                host: tlsListen.host,
                port: tlsListen.port,
                certificates: zip(self.tlsCert, self.tlsKey).map { .init(certificate: $0, key: $1) },
                unknownServerName: .init(rawValue: self.tlsUnknownName) ?? .defaultCertificate,
                minimumVersion: .init(rawValue: self.tlsMinVersion) ?? .tls12,
                maxConcurrentStreams: self.h2MaxStreams,
                ticketKeyRotation: self.tlsTicketRotation
            )
        }
        if self.admin == "off" {
            configuration.adminHost = nil
        } else {
            let admin = try HostPort(listenAddress: self.admin)
            (configuration.adminHost, configuration.adminPort) = (admin.host, admin.port)
        }
        let server: MiniCacheServer
        do {
            if let adminTokenFile = self.adminTokenFile { configuration.adminToken = try AdminToken.read(adminTokenFile) }
            server = try MiniCacheServer(
                volumePath: self.volume,
                configuration: configuration,
                logger: logger,
                prometheus: registry,
                readyFile: self.readyFile,
                processStart: processStart
            )
        } catch {
            Ctl.printError("minicache: \(error)")
            throw ExitCode.failure
        }
        server.context.cache?.store.useEviction(EvictionKind(rawValue: self.eviction) ?? .lru)
        // The services are named here: a name the group interpolates from a service costs a
        // reflection and scans of every protocol-conformance record of a static executable, 42 %
        // of the instructions from exec to ready (callgrind, scripts/count-start-instructions.sh).
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: server, serviceName: server.description),
                    .init(service: MemoryTrimmer(context: server.context), serviceName: "MemoryTrimmer"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            Ctl.printError("minicache: \(error)")
            throw ExitCode.failure
        }
    }
}
