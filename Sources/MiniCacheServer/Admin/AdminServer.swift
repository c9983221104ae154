#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import Synchronization
import NIOHTTP1
import NIOPosix
import Prometheus
import SHFS

/// The admin listener: status, per-object statistics, Prometheus metrics, remount and prefetch.
/// Not on the hot path, so it uses NIOHTTP1.
enum AdminServer {
    static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        server: ServerContext,
        prometheus: PrometheusCollectorRegistry?
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(server: server, prometheus: prometheus))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ServerContext
    private let prometheus: PrometheusCollectorRegistry?
    private var request: HTTPRequestHead?

    init(server: ServerContext, prometheus: PrometheusCollectorRegistry?) {
        self.server = server
        self.prometheus = prometheus
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.request = head
        case .body:
            break
        case .end:
            guard let head = self.request else { return }
            self.request = nil
            self.route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        let query = parts.count > 1 ? String(parts[1]) : ""
        switch (head.method, path) {
        case (.GET, "/admin/status"):
            self.send(context, head, .ok, "application/json", self.status())
        case (.GET, "/admin/objects"):
            self.send(context, head, .ok, "application/json", self.objects())
        case (.GET, "/metrics"):
            guard let prometheus = self.prometheus else {
                self.send(context, head, .notFound, "text/plain", "metrics are not enabled\n")
                return
            }
            self.send(context, head, .ok, "text/plain; version=0.0.4", prometheus.emitToString())
        case (.POST, "/admin/remount"):
            self.offload(context, head) { server throws(MiniCacheError) in
                let mount = try server.volumes.remount(reason: "admin request")
                return JSONWriter.object([("generation", "\(mount.generation)"), ("objects", "\(mount.objects.count)")])
            }
        case (.POST, "/admin/prefetch"):
            let keys = query.split(separator: "&").compactMap { item -> String? in
                let kv = item.split(separator: "=", maxSplits: 1)
                return kv.count == 2 && kv[0] == "object" ? String(kv[1]) : nil
            }.flatMap { $0.split(separator: ",").map(String.init) }
            self.offload(context, head) { server throws(MiniCacheError) in
                var digests: [[UInt8]]?
                if !keys.isEmpty {
                    let volume = server.volumes.current.volume
                    var found: [[UInt8]] = []
                    for key in keys {
                        guard let entry = volume.entry(digestOrName: Self.percentDecoded(key)) else {
                            throw MiniCacheError(.admin, "no object '\(key)' on the volume")
                        }
                        found.append(entry.digest)
                    }
                    digests = found
                }
                let mount = try server.volumes.prefetch(digests: digests)
                return JSONWriter.object([("generation", "\(mount.generation)"), ("memoryBytes", "\(mount.memoryBytes)")])
            }
        case (.POST, "/admin/purge"):
            var urls: [String] = []
            var prefixes: [String] = []
            for item in query.split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                if kv[0] == "url" { urls.append(Self.percentDecoded(String(kv[1]))) }
                if kv[0] == "prefix" { prefixes.append(Self.percentDecoded(String(kv[1]))) }
            }
            guard let cache = self.server.cache else {
                self.send(context, head, .conflict, "text/plain", "the server has no --origin: nothing is cached\n")
                return
            }
            guard !(urls + prefixes).isEmpty, (urls + prefixes).allSatisfy({ $0.hasPrefix("/") }) else {
                self.send(context, head, .badRequest, "text/plain", "give the cached paths as ?url=/path or ?prefix=/path/ (repeatable)\n")
                return
            }
            let (exact, under) = (urls, prefixes)
            self.offload(context, head) { _ throws(MiniCacheError) in
                var removed = 0
                for url in exact {
                    removed += try cache.store.purge(url: url, extra: [cache.key(target: url).key.primaryDigest])
                }
                for prefix in under {
                    removed += try cache.store.purge(prefix: prefix) { [cache.key(target: $0).key.primaryDigest] }
                }
                return JSONWriter.object([("purged", "\(removed)")])
            }
        case (_, "/admin/status"), (_, "/admin/objects"), (_, "/metrics"):
            self.send(context, head, .methodNotAllowed, "text/plain", "use GET\n", extra: [("Allow", "GET")])
        case (_, "/admin/remount"), (_, "/admin/prefetch"), (_, "/admin/purge"):
            self.send(context, head, .methodNotAllowed, "text/plain", "use POST\n", extra: [("Allow", "POST")])
        default:
            self.send(
                context, head, .notFound, "text/plain",
                "unknown admin path; try GET /admin/status, GET /admin/objects, GET /metrics, POST /admin/remount, POST /admin/prefetch, POST /admin/purge?url=/path or ?prefix=/path/\n"
            )
        }
    }

    /// Runs blocking volume work off the event loops.
    private func offload(
        _ context: ChannelHandlerContext,
        _ head: HTTPRequestHead,
        _ work: @escaping @Sendable (ServerContext) throws(MiniCacheError) -> String
    ) {
        let server = self.server
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { () throws -> String in
            try work(server)
        }
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let body): self.send(context, head, .ok, "application/json", body + "\n")
            case .failure(let error):
                self.send(context, head, .conflict, "application/json", JSONWriter.object([("error", JSONWriter.quote("\(error)"))]) + "\n")
            }
        }
    }

    private func status() -> String {
        let stats = self.server.stats
        let mount = self.server.volumes.current
        let header = mount.volume.header
        let volume = JSONWriter.object([
            ("path", JSONWriter.quote(mount.volume.path)), ("name", JSONWriter.quote(header.name)),
            ("uuid", JSONWriter.quote(header.uuidString)), ("generation", "\(mount.generation)"),
            ("objects", "\(mount.objects.count)"), ("memoryBytes", "\(mount.memoryBytes)"),
        ])
        let statuses = stats.statusCounts.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        return JSONWriter.object([
            ("uptimeSeconds", "\(Int64(time(nil)) - stats.startTime)"),
            ("volume", volume),
            ("connections", JSONWriter.object([
                ("open", "\(stats.connectionsOpen.load(ordering: .relaxed))"),
                ("total", "\(stats.connectionsTotal.load(ordering: .relaxed))"),
                ("refused", "\(stats.connectionsRefused.load(ordering: .relaxed))"),
            ])),
            ("requests", "\(stats.requests.load(ordering: .relaxed))"),
            ("responses", JSONWriter.object(statuses)),
            ("bytesSent", "\(stats.bytesSent.load(ordering: .relaxed))"),
            ("upstreamFetches", "\(stats.upstreamFetches.load(ordering: .relaxed))"),
            ("remounts", "\(stats.remounts.load(ordering: .relaxed))"),
            ("cache", self.server.cache == nil ? "null" : JSONWriter.object(stats.cacheCounts.map { ($0.0, "\($0.1)") })),
            ("cacheStore", self.cacheStoreStatus()),
        ]) + "\n"
    }

    /// What the pull-through cache keeps in the volume; `null` without `--origin`.
    private func cacheStoreStatus() -> String {
        guard let store = self.server.cache?.store else { return "null" }
        let snapshot = store.metrics.snapshot
        return JSONWriter.object([
            ("eviction", JSONWriter.quote(store.eviction.rawValue)),
            ("objects", "\(snapshot.objects)"), ("bytes", "\(snapshot.bytes)"),
            ("heldBytes", "\(snapshot.quarantinedBytes)"),
            ("stored", "\(snapshot.stored)"), ("purged", "\(snapshot.purged)"), ("removed", "\(snapshot.removed)"),
            ("evictions", JSONWriter.object(CacheStoreMetrics.EvictionReason.allCases.map { ($0.rawValue, "\(snapshot.evictions[$0] ?? 0)") })),
            ("failures", JSONWriter.object(CacheStoreMetrics.Failure.allCases.map { ($0.rawValue, "\(snapshot.failures[$0] ?? 0)") })),
        ])
    }

    private func objects() -> String {
        let mount = self.server.volumes.current
        var items: [String] = []
        for object in mount.objects {
            let c = object.counters
            let kind: String
            switch object.kind {
            case .file: kind = "object"
            case .redirect: kind = "redirect"
            case .proxy: kind = "proxy"
            }
            items.append(JSONWriter.object([
                ("digest", JSONWriter.quote(object.entry.hexDigest)), ("name", JSONWriter.quote(object.entry.name)),
                ("kind", JSONWriter.quote(kind)), ("length", "\(object.length)"), ("inMemory", "\(object.isInMemory)"),
                ("hits", "\(c.hits.load(ordering: .relaxed))"), ("bytes", "\(c.bytes.load(ordering: .relaxed))"),
                ("completed", "\(c.completed)"),
                ("progress", JSONWriter.object(zip(["0", "20", "40", "60", "80", "100"], c.progress).map { ($0.0, "\($0.1)") })),
            ]))
        }
        let misses = self.server.registry.missCounts.sorted { $0.key < $1.key }.map {
            JSONWriter.object([("key", JSONWriter.quote($0.key)), ("misses", "\($0.value)")])
        }
        return JSONWriter.object([("objects", JSONWriter.array(items)), ("misses", JSONWriter.array(misses))]) + "\n"
    }

    private func send(
        _ context: ChannelHandlerContext,
        _ request: HTTPRequestHead,
        _ status: HTTPResponseStatus,
        _ contentType: String,
        _ body: String,
        extra: [(String, String)] = []
    ) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.utf8.count)")] + extra)
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = request.isKeepAlive
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    static func percentDecoded(_ s: String) -> String {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let c = bytes.popFirst() {
            if c == 37, bytes.count >= 2, let hi = Mount.hexValue(bytes[bytes.startIndex]),
                let lo = Mount.hexValue(bytes[bytes.startIndex + 1])
            {
                out.append(hi << 4 | lo)
                bytes.removeFirst(2)
            } else {
                out.append(c == 43 ? 32 : c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@available(*, unavailable)
extension AdminHandler: Sendable {}
