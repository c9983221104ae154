#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Logging
import Metrics
import NIOCore
import SHFS
import Synchronization
import NIOPosix
import NIOSSL
import Prometheus
import ServiceLifecycle
import Synchronization

/// The MiniCache data plane: serves one SHFS volume over HTTP/1.1, and over TLS with HTTP/2,
/// with an admin listener.
///
/// Run it in a `ServiceGroup`; a graceful shutdown stops accepting, lets every response in flight
/// finish, then closes. Tests can call ``start()`` and ``shutdown()`` directly.
public final class MiniCacheServer: Service, Sendable {
    /// Where the listeners are bound.
    public struct Addresses: Sendable {
        /// The plain HTTP listener, or the TLS one when there is no plain one.
        public var data: SocketAddress
        /// The TLS listener, when configured.
        public var tls: SocketAddress?
        public var admin: SocketAddress?
    }

    public let configuration: ServerConfiguration
    package let context: ServerContext
    private let group: MultiThreadedEventLoopGroup
    /// Ends fill holds once no request can still decide on an older mount.
    private let grace: SnapshotGrace
    /// The event loops connections are served on.
    package var eventLoopGroup: any EventLoopGroup { self.group }
    private let prometheus: PrometheusCollectorRegistry?
    private let readyFile: String?
    private let processStart: ContinuousClock.Instant?
    private let logger: Logger
    private let state = Mutex<RunState>(RunState())

    private struct RunState {
        var data: (any Channel)?
        var tls: (any Channel)?
        var admin: (any Channel)?
        var dateCaches: [NIOLoopBound<DateCache>] = []
        var watch: Task<Void, Never>?
        var stopped = false
    }

    /// Opens and mounts the volume; nothing is bound until ``start()`` or ``run()``.
    /// - Parameters:
    ///   - volumePath: the SHFS volume file.
    ///   - metricsFactory: where metric handles are created (the executable bootstraps it).
    ///   - prometheus: the registry `GET /metrics` renders; nil answers 404 there.
    ///   - readyFile: written with the URL once the server accepts connections.
    ///   - processStart: when the process started, for the start-up log line.
    /// - Throws: ``MiniCacheError`` when the volume cannot be mounted.
    public init(
        volumePath: String,
        configuration: ServerConfiguration = ServerConfiguration(),
        logger: Logger = Logger(label: "minicache"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        prometheus: PrometheusCollectorRegistry? = nil,
        readyFile: String? = nil,
        processStart: ContinuousClock.Instant? = nil
    ) throws(MiniCacheError) {
        guard configuration.threads >= 1 else {
            throw MiniCacheError(.configuration, "--threads must be at least 1")
        }
        self.configuration = configuration
        self.logger = logger
        self.prometheus = prometheus
        self.readyFile = readyFile
        self.processStart = processStart
        let stats = ServerStats(startTime: Int64(time(nil)), factory: metricsFactory)
        let registry = StatsRegistry()
        let volumes = try MountedVolume(path: volumePath, configuration: configuration, registry: registry, stats: stats, logger: logger)
        var router: OriginRouter?
        var originTLS: NIOSSLContext?
        let rules = CacheRules(configuration: CacheConfiguration(
            targetedFields: configuration.surrogateControl ? [.cdnCacheControl, .surrogateControl] : [.cdnCacheControl]))
        if let origin = configuration.origin {
            let loaded = try OriginRouter.load(origin)
            if loaded.hasSecureOrigin || configuration.originCA != nil {
                originTLS = try Self.originTLS(caFile: configuration.originCA)
            }
            router = loaded
        }
        if let adminHost = configuration.adminHost, !AdminToken.isLoopback(adminHost), configuration.adminToken == nil {
            throw MiniCacheError(
                .configuration,
                "the admin listener on \(adminHost) can be reached from other hosts: give --admin-token-file FILE, or keep --admin on 127.0.0.1"
            )
        }
        guard configuration.listensPlain || configuration.tls != nil else {
            throw MiniCacheError(.configuration, "nothing to serve on: give --listen, --listen-tls or both")
        }
        let certificates = try configuration.tls.map { tls throws(MiniCacheError) in try CertificateStore(configuration: tls, logger: logger) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        self.group = group
        let grace = SnapshotGrace(group: group)
        self.grace = grace
        let cache = router.map { router in
            PullThroughCache(
                router: router,
                maxObjectSize: configuration.maxStoredObjectSize,
                rules: rules,
                volumes: volumes,
                stats: stats,
                metricsFactory: metricsFactory,
                grace: grace,
                logger: logger
            )
        }
        self.context = ServerContext(
            configuration: configuration,
            volumes: volumes,
            stats: stats,
            registry: registry,
            upstream: UpstreamRelay(group: self.group, timeout: configuration.upstreamTimeout, tls: originTLS, stats: stats, logger: logger, rules: rules),
            cache: cache,
            connections: ConnectionRegistry(),
            certificates: certificates,
            logger: logger
        )
    }

    /// Binds the listeners and starts serving.
    /// - Throws: ``MiniCacheError`` with code `bind` when an address cannot be bound.
    @discardableResult
    public func start() async throws -> Addresses {
        var caches: [ObjectIdentifier: NIOLoopBound<DateCache>] = [:]
        var bound: [NIOLoopBound<DateCache>] = []
        for loop in self.group.makeIterator() {
            let cache = try await loop.submit {
                let cache = DateCache()
                cache.start(on: loop)
                return NIOLoopBound(cache, eventLoop: loop)
            }.get()
            caches[ObjectIdentifier(loop)] = cache
            bound.append(cache)
        }
        let dateCaches = caches
        let server = self.context
        let limit = self.configuration.maxConnections
        let refusal = Self.refusal(serverName: self.configuration.serverName)
        var plain: (any Channel)?
        if self.configuration.listensPlain {
        do {
            plain = try await ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 512 * 1024))
                .childChannelOption(.maxMessagesPerRead, value: 4)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard server.connections.admit(channel, limit: limit) else {
                            server.stats.connectionRefused()
                            try channel.pipeline.syncOperations.addHandler(RefuseHandler(response: refusal))
                            return
                        }
                        let dates = dateCaches[ObjectIdentifier(channel.eventLoop)]!.value
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(server: server, dates: dates))
                    }
                }
                .bind(to: Self.socketAddress(host: self.configuration.host, port: self.configuration.port))
                .get()
        } catch {
            throw MiniCacheError(.bind, "cannot listen on \(self.configuration.host):\(self.configuration.port): \(error); choose another --listen", underlying: error)
        }
        }
        var secure: (any Channel)?
        if let tls = self.configuration.tls, let certificates = server.certificates {
            do {
                secure = try await self.bindTLS(tls, certificates: certificates, dateCaches: dateCaches)
            } catch {
                try? await plain?.close()
                throw MiniCacheError(.bind, "cannot listen for TLS on \(tls.host):\(tls.port): \(error); choose another --listen-tls", underlying: error)
            }
        }
        let data: any Channel = (plain ?? secure)!
        var admin: (any Channel)?
        if let adminHost = self.configuration.adminHost {
            do {
                admin = try await AdminServer.bind(
                    host: adminHost,
                    port: self.configuration.adminPort,
                    group: self.group,
                    server: server,
                    prometheus: self.prometheus
                )
            } catch {
                try? await plain?.close()
                try? await secure?.close()
                throw MiniCacheError(.bind, "cannot listen for admin on \(adminHost):\(self.configuration.adminPort): \(error); choose another --admin", underlying: error)
            }
        }
        let watch = self.configuration.watchInterval.map { interval in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .nanoseconds(interval.nanoseconds))
                    if Task.isCancelled { break }
                    server.volumes.checkForChanges()
                    server.certificates?.checkForChanges()
                }
            }
        }
        self.state.withLock {
            $0.data = plain
            $0.tls = secure
            $0.admin = admin
            $0.dateCaches = bound
            $0.watch = watch
        }
        let addresses = Addresses(data: data.localAddress!, tls: secure?.localAddress, admin: admin?.localAddress)
        let secureURL = self.configuration.tls.map { "https://\(Self.displayHost($0.host)):\(addresses.tls?.port ?? 0)/" }
        let url = plain == nil ? secureURL! : "http://\(Self.displayHost(self.configuration.host)):\(addresses.data.port ?? 0)/"
        var metadata: Logger.Metadata = [
            "url": "\(url)", "volume.path": "\(server.volumes.path)",
            "volume.objects": "\(server.volumes.current.objects.count)", "threads": "\(self.configuration.threads)",
        ]
        if let secureURL, plain != nil { metadata["tls.url"] = "\(secureURL)" }
        if let admin = addresses.admin { metadata["admin"] = "\(Self.displayHost(adminHostText(admin))):\(admin.port ?? 0)" }
        if let processStart = self.processStart {
            let elapsed = ContinuousClock.now - processStart
            metadata["startup.ms"] = "\(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000)"
        }
        self.logger.info("serving \(url)", metadata: metadata)
        if let readyFile = self.readyFile {
            Self.writeFile(readyFile, url + "\n")
        }
        return addresses
    }

    /// A numeric address is used as is; only a host name goes through the resolver (`getaddrinfo`
    /// costs a netlink round trip at start-up).
    static func socketAddress(host: String, port: Int) throws -> SocketAddress {
        if let address = try? SocketAddress(ipAddress: host, port: port) { return address }
        return try SocketAddress.makeAddressResolvingHost(host, port: port)
    }

    private func adminHostText(_ address: SocketAddress) -> String {
        address.ipAddress ?? (self.configuration.adminHost ?? "127.0.0.1")
    }

    /// The URL of the data listener for people (0.0.0.0 shown as 127.0.0.1).
    static func displayHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::": "[::1]"
        default: host.contains(":") ? "[\(host)]" : host
        }
    }

    /// Serves until a graceful shutdown, then finishes the responses in flight.
    public func run() async throws {
        try await self.start()
        try? await gracefulShutdown()
        await self.shutdown()
    }

    /// Stops accepting, lets in-flight responses finish (at most `grace`), and releases the threads.
    public func shutdown(grace: Duration = .seconds(30)) async {
        let (data, tls, admin, watch, caches, alreadyStopped) = self.state.withLock { state in
            defer { state.stopped = true }
            return (state.data, state.tls, state.admin, state.watch, state.dateCaches, state.stopped)
        }
        guard !alreadyStopped else { return }
        watch?.cancel()
        try? await data?.close()
        try? await tls?.close()
        try? await admin?.close()
        self.context.connections.quiesceAll()
        let connections = self.context.connections
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await connections.waitForAll() }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            group.cancelAll()
        }
        for cache in caches {
            try? await cache.eventLoop.submit { cache.value.stop() }.get()
        }
        // No request is decided any more: fills end their holds at once.
        self.grace.stop()
        // Stores queued after the last response are dropped; the writer and its lock are released.
        await self.context.cache?.store.shutdown()
        try? await self.group.shutdownGracefully()
        if let readyFile = self.readyFile { unlink(readyFile) }
        self.logger.info("stopped", metadata: ["requests": "\(self.context.stats.requests.load(ordering: .relaxed))"])
    }

    /// Re-opens the volume and reloads the TLS certificates now (what the file watch and
    /// `POST /admin/remount` do).
    public func remount() throws(MiniCacheError) {
        try self.context.volumes.remount(reason: "requested")
        try self.context.certificates?.reload(reason: "requested")
    }

    static func refusal(serverName: String) -> ByteBuffer {
        let body = "503 Service Unavailable: too many connections\n"
        return ByteBuffer(
            string: "HTTP/1.1 503 Service Unavailable\r\nServer: \(serverName)\r\nContent-Type: text/plain\r\n"
                + "Content-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\(body)"
        )
    }

    static func writeFile(_ path: String, _ text: String) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        rename(temporary, path)
    }
}

extension MiniCacheServer: CustomStringConvertible {
    /// Names the service in `ServiceGroup` logs; without it the group describes the server by
    /// reflection, a scan of every conformance record of a static executable at start-up.
    public var description: String { "MiniCacheServer(\(self.context.volumes.path))" }
}

/// Answers a connection above the limit with a ready-made 503 and closes it.
final class RefuseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let response: ByteBuffer

    init(response: ByteBuffer) { self.response = response }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(self.wrapOutboundOut(self.response)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@available(*, unavailable)
extension RefuseHandler: Sendable {}
