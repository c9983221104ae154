#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import SHFS
import Synchronization

/// Answers the admin API (``AdminAPI``) from the server's state; volume work runs on the thread
/// pool, never on an event loop.
struct AdminResponder: Sendable {
    let server: ServerContext
    let prometheus: PrometheusCollectorRegistry?

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        if let token = server.configuration.adminToken, !AdminToken.authorizes(request.headers.first(name: "authorization"), token: token) {
            var response = Self.refuse(.unauthorized, "this admin listener needs its token: Authorization: Bearer <token> (minicache ctl --admin-token-file FILE)")
            response.headers.add(name: "WWW-Authenticate", value: "Bearer")
            return response
        }
        switch (request.method, request.path) {
        case (.GET, AdminAPI.statusPath), (.HEAD, AdminAPI.statusPath):
            return .json(status())
        case (.GET, AdminAPI.objectsPath), (.HEAD, AdminAPI.objectsPath):
            return .json(objects())
        case (.GET, AdminAPI.metricsPath), (.HEAD, AdminAPI.metricsPath):
            guard let prometheus else { return .text(.notFound, "metrics are not enabled\n") }
            return .text(.ok, prometheus.emitToString(), contentType: "text/plain; version=0.0.4")
        case (.POST, AdminAPI.remountPath):
            return await offload { server throws(MiniCacheError) in
                let mount = try server.volumes.remount(reason: "admin request")
                let certificates = try server.certificates.map { store throws(MiniCacheError) in try store.reload(reason: "admin request") }
                return AdminAPI.Remounted(generation: mount.generation, objects: mount.objects.count, certificates: certificates)
            }
        case (.POST, AdminAPI.prefetchPath):
            guard let values = request.queryItems("object") else { return Self.refuse(.badRequest, "a query value is badly percent-encoded") }
            let keys = values.flatMap { $0.split(separator: ",").map(String.init) }
            return await offload { server throws(MiniCacheError) in
                var digests: [[UInt8]]?
                if !keys.isEmpty {
                    // The current mount, not the last full mount's table: it lists what the cache stored since.
                    let mount = server.volumes.current
                    digests = try keys.map { key throws(MiniCacheError) in
                        guard let entry = mount.entry(digestOrName: key) else {
                            throw MiniCacheError(.admin, "no object '\(key)' on the volume; list them with GET /admin/objects")
                        }
                        return entry.digest
                    }
                }
                let mount = try server.volumes.prefetch(digests: digests)
                return AdminAPI.Prefetched(generation: mount.generation, memoryBytes: mount.memoryBytes)
            }
        case (.POST, AdminAPI.purgePath):
            guard let urls = request.queryItems("url"), let prefixes = request.queryItems("prefix") else {
                return Self.refuse(.badRequest, "a query value is badly percent-encoded")
            }
            guard let cache = server.cache else {
                return Self.refuse(.conflict, "the server has no --origin: nothing is cached")
            }
            guard !(urls + prefixes).isEmpty, (urls + prefixes).allSatisfy({ $0.hasPrefix("/") }) else {
                return Self.refuse(.badRequest, "give the cached paths as ?url=/path or ?prefix=/path/ (repeatable)")
            }
            return await offload { _ throws(MiniCacheError) in
                var removed = 0
                for url in urls {
                    removed += try cache.store.purge(url: url, extra: [cache.key(target: url).key.primaryDigest])
                }
                for prefix in prefixes {
                    removed += try cache.store.purge(prefix: prefix) { [cache.key(target: $0).key.primaryDigest] }
                }
                return AdminAPI.Purged(purged: removed)
            }
        case (_, AdminAPI.statusPath), (_, AdminAPI.objectsPath), (_, AdminAPI.metricsPath):
            var response = Self.refuse(.methodNotAllowed, "use GET")
            response.headers.add(name: "Allow", value: "GET, HEAD")
            return response
        case (_, AdminAPI.remountPath), (_, AdminAPI.prefetchPath), (_, AdminAPI.purgePath):
            var response = Self.refuse(.methodNotAllowed, "use POST")
            response.headers.add(name: "Allow", value: "POST")
            return response
        default:
            return Self.refuse(
                .notFound,
                "unknown admin path; try GET /admin/status, GET /admin/objects, GET /metrics, POST /admin/remount, POST /admin/prefetch, POST /admin/purge?url=/path or ?prefix=/path/"
            )
        }
    }

    /// Runs blocking volume work on the thread pool; a refusal answers 409 with its reason.
    private func offload<T: Encodable & Sendable>(
        _ work: @escaping @Sendable (ServerContext) throws(MiniCacheError) -> T
    ) async -> HTTPResponse {
        let server = self.server
        do {
            return .json(try await NIOThreadPool.singleton.runIfActive { () throws -> T in try work(server) })
        } catch {
            return Self.refuse(.conflict, "\(error)")
        }
    }

    private static func refuse(_ status: HTTPResponseStatus, _ reason: String) -> HTTPResponse {
        .json(AdminAPI.Failure(error: reason), status: status)
    }

    private func status() -> AdminAPI.Status {
        let stats = server.stats
        let mount = server.volumes.current
        let header = mount.volume.header
        let counts = Dictionary(stats.cacheCounts, uniquingKeysWith: { first, _ in first })
        return AdminAPI.Status(
            uptimeSeconds: Int(Int64(time(nil)) - stats.startTime),
            volume: AdminAPI.Status.Volume(
                path: mount.volume.path, name: header.name, uuid: header.uuidString, generation: mount.generation,
                objects: mount.objects.count, memoryBytes: mount.memoryBytes),
            connections: AdminAPI.Status.Connections(
                open: stats.connectionsOpen.load(ordering: .relaxed), total: stats.connectionsTotal.load(ordering: .relaxed),
                refused: stats.connectionsRefused.load(ordering: .relaxed)),
            requests: stats.requests.load(ordering: .relaxed),
            responses: stats.statusCounts,
            bytesSent: stats.bytesSent.load(ordering: .relaxed),
            upstreamFetches: stats.upstreamFetches.load(ordering: .relaxed),
            remounts: stats.remounts.load(ordering: .relaxed),
            cache: server.cache == nil
                ? nil
                : AdminAPI.Status.Cache(
                    hits: counts["hits"] ?? 0, misses: counts["misses"] ?? 0, coalesced: counts["coalesced"] ?? 0,
                    staleServed: counts["staleServed"] ?? 0, revalidations: counts["revalidations"] ?? 0,
                    revalidatedNotModified: counts["revalidatedNotModified"] ?? 0,
                    revalidatedChanged: counts["revalidatedChanged"] ?? 0, originErrors: counts["originErrors"] ?? 0,
                    originBytes: counts["originBytes"] ?? 0, cacheBytesServed: counts["cacheBytesServed"] ?? 0),
            cacheStore: cacheStoreStatus()
        )
    }

    /// What the pull-through cache keeps in the volume; nil without `--origin`.
    private func cacheStoreStatus() -> AdminAPI.Status.CacheStore? {
        guard let store = server.cache?.store else { return nil }
        let snapshot = store.metrics.snapshot
        return AdminAPI.Status.CacheStore(
            eviction: store.eviction.rawValue, objects: snapshot.objects, bytes: Int(snapshot.bytes),
            heldBytes: Int(snapshot.quarantinedBytes), stored: snapshot.stored, purged: snapshot.purged, removed: snapshot.removed,
            evictions: Dictionary(
                uniqueKeysWithValues: CacheStoreMetrics.EvictionReason.allCases.map { ($0.rawValue, snapshot.evictions[$0] ?? 0) }),
            failures: Dictionary(
                uniqueKeysWithValues: CacheStoreMetrics.Failure.allCases.map { ($0.rawValue, snapshot.failures[$0] ?? 0) }))
    }

    private func objects() -> AdminAPI.Objects {
        let mount = server.volumes.current
        let objects = mount.objects.map { object in
            let c = object.counters
            let kind: String
            switch object.kind {
            case .file: kind = "object"
            case .redirect: kind = "redirect"
            case .proxy: kind = "proxy"
            }
            return AdminAPI.Objects.Object(
                digest: object.entry.hexDigest, name: object.entry.name, kind: kind, length: Int(object.length),
                inMemory: object.isInMemory, hits: c.hits.load(ordering: .relaxed), bytes: c.bytes.load(ordering: .relaxed),
                completed: c.completed,
                progress: Dictionary(uniqueKeysWithValues: zip(["0", "20", "40", "60", "80", "100"], c.progress)))
        }
        let misses = server.registry.missCounts.sorted { $0.key < $1.key }.map { AdminAPI.Objects.Miss(key: $0.key, misses: $0.value) }
        return AdminAPI.Objects(objects: objects, misses: misses)
    }
}
