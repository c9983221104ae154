import Foundation
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The JSON API and the dashboard:
/// `GET /api/sites`, `/api/tenants`, `/api/instances`, `/api/demand`, `/api/events`, `/api/summary`,
/// and `GET /` (the dashboard page).
public final class APIServer: Service, Sendable {
    private let server: HTTPServer
    private let logger: Logger

    /// Origin egress, if the origin runs in this process (for the offload figure).
    public typealias OriginCounters = @Sendable () -> (requests: Int, bytes: Int)?

    /// Binds the listener; ``run()`` keeps it until shutdown.
    /// - Parameter tls: serve HTTPS with this certificate.
    public init(
        host: String = "127.0.0.1", port: Int = 8001, tls: TLSFiles? = nil, controller: Controller, originCounters: @escaping OriginCounters = { nil },
        group: any EventLoopGroup, logger: Logger
    ) async throws(ControlError) {
        self.logger = logger
        let api = APIResponder(controller: controller, originCounters: originCounters)
        self.server = try await HTTPServer.bind(host: host, port: port, tls: tls, group: group, logger: logger) { request in
            await api.respond(request)
        }
    }

    public var url: String { server.url }

    public func run() async throws {
        try? await gracefulShutdown()
        await server.close()
    }
}

struct APIResponder: Sendable {
    let controller: Controller
    let originCounters: APIServer.OriginCounters
    let started = HTTPDate.now()

    struct SiteView: Encodable {
        var name: String
        var clientPrefix: String
        var backend: String
        var maxInstances: Int
        var instances: Int
        var viewers: Int
        var requests: Int
        var toCache: Int
        var toOrigin: Int
        var waited: Int
    }

    struct TenantView: Encodable {
        var name: String
        var origin: String
        var hostnames: [String]
        var pathPrefix: String
        var quotaPerSite: Int
    }

    struct DemandView: Encodable {
        var site: String
        var tenant: String
        var viewers: Int
        var desired: Int
        /// Router requests since start by content.
        var contents: [String: Int]
    }

    struct SummaryView: Encodable {
        var uptimeSeconds: Double
        var mode: String
        var backend: String
        var instancesRunning: Int
        var cacheRequests: Int
        var cacheBytes: Int
        var originRequests: Int?
        var originBytes: Int?
        /// Share of body bytes sent by caches rather than the origin (origin egress includes fills).
        var cacheByteShare: Double?
        var routedToCache: Int
        var routedToOrigin: Int
        /// Seconds instances existed (launch to stop, or to now), summed: the cost.
        var instanceSeconds: Double
        var instanceStarts: Int
    }

    func respond(_ request: HTTPRequest) async -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            var r = HTTPResponse.text(.methodNotAllowed, "the API is read-only: use GET\n")
            r.headers.add(name: "Allow", value: "GET, HEAD")
            return r
        }
        switch request.path {
        case "/", "/dashboard", "/dashboard/":
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"], body: ByteBuffer(string: Dashboard.html))
        case "/api/instances":
            let stored = (try? await controller.store.instances()) ?? []
            let live = Dictionary(controller.liveInstances().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            // The controller's table is fresher than the store for running instances.
            let merged = stored.map { live[$0.id] ?? $0 } + live.values.filter { l in !stored.contains { $0.id == l.id } }
            let all = request.queryItem("state").map { s in merged.filter { $0.state.rawValue == s } } ?? merged
            return json(all)
        case "/api/sites":
            let counters = controller.counters()
            let demand = controller.demand()
            let live = controller.liveInstances()
            return json(controller.sites.map { site in
                let c = counters[site.name] ?? SiteCounters()
                return SiteView(
                    name: site.name, clientPrefix: site.clientPrefix, backend: site.backend.rawValue, maxInstances: site.maxInstances,
                    instances: live.filter { $0.site == site.name && $0.state != .stopped }.count,
                    viewers: demand.filter { $0.key.site == site.name }.reduce(0) { $0 + $1.value },
                    requests: c.requests, toCache: c.toCache, toOrigin: c.toOrigin, waited: c.waited
                )
            })
        case "/api/tenants":
            return json(controller.tenants.map {
                TenantView(name: $0.name, origin: $0.origin, hostnames: $0.hostnames, pathPrefix: $0.pathPrefix, quotaPerSite: $0.quotaPerSite)
            })
        case "/api/demand":
            let demand = controller.demand()
            let desired = (try? await controller.store.desired()) ?? [:]
            let contents = controller.contentRequests()
            var rows: [DemandView] = []
            for site in controller.sites {
                for tenant in controller.tenants {
                    let key = DesiredKey(site: site.name, tenant: tenant.name)
                    rows.append(DemandView(
                        site: site.name, tenant: tenant.name, viewers: demand[key] ?? 0, desired: desired[key] ?? 0, contents: contents[key] ?? [:]
                    ))
                }
            }
            return json(rows)
        case "/api/events":
            let limit = request.queryItem("limit").flatMap(Int.init) ?? 100
            return json(Array(controller.events().suffix(max(0, limit))))
        case "/api/summary":
            let stored = (try? await controller.store.instances()) ?? []
            let live = controller.liveInstances()
            let ids = Set(live.map(\.id))
            let all = live + stored.filter { !ids.contains($0.id) }
            let cacheBytes = all.reduce(0) { $0 + $1.bytesSent }
            let origin = originCounters()
            let counters = controller.counters().values
            let share = origin.flatMap { o in cacheBytes + o.bytes > 0 ? Double(cacheBytes) / Double(cacheBytes + o.bytes) : nil }
            return json(SummaryView(
                uptimeSeconds: HTTPDate.now() - started, mode: controller.configuration.mode.rawValue, backend: controller.backend.kind,
                instancesRunning: live.filter { $0.state != .stopped }.count,
                cacheRequests: all.reduce(0) { $0 + $1.requests }, cacheBytes: cacheBytes,
                originRequests: origin?.requests, originBytes: origin?.bytes, cacheByteShare: share,
                routedToCache: counters.reduce(0) { $0 + $1.toCache }, routedToOrigin: counters.reduce(0) { $0 + $1.toOrigin },
                instanceSeconds: all.reduce(0) { $0 + (($1.stoppedAt ?? HTTPDate.now()) - $1.startedAt) }, instanceStarts: all.count
            ))
        default:
            return .text(.notFound, "unknown path; try /api/sites, /api/tenants, /api/instances, /api/demand, /api/events, /api/summary or / (dashboard)\n")
        }
    }

    private func json(_ value: some Encodable) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        var body = ByteBuffer(bytes: data)
        body.writeString("\n")
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"], body: body)
    }
}
