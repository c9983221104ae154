import Foundation
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The API and dashboard of a controller of the distributed control plane: the same paths and
/// shapes as `ecdn up`'s (``APIServer``), from the cluster's view, plus `GET /api/leader`
/// (`{"id": ...}`, the same answer from every controller) and `GET /api/cluster` (members,
/// etcd reachability, this controller's role).
public final class ClusterAPIServer: Service, Sendable {
    private let server: HTTPServer

    /// Binds the listener; ``run()`` keeps it until shutdown.
    /// - Parameter tls: serve HTTPS with this certificate and key (as `ecdn up --tls`'s API); nil: HTTP.
    /// - Throws: ``ControlError`` `bindFailed`, or `badConfiguration` naming a TLS file that cannot be used.
    public init(
        host: String, port: Int, tls: TLSFiles? = nil, controller: ClusterController, originCounters: @escaping APIServer.OriginCounters = { nil },
        group: any EventLoopGroup, logger: Logger
    ) async throws(ControlError) {
        let responder = ClusterAPIResponder(controller: controller, originCounters: originCounters)
        server = try await HTTPServer.bind(host: host, port: port, tls: tls, group: group, logger: logger) { request in
            responder.respond(request)
        }
    }

    public var url: String { server.url }

    public func run() async throws {
        try? await gracefulShutdown()
        await server.close()
    }
}

struct ClusterAPIResponder: Sendable {
    let controller: ClusterController
    let originCounters: APIServer.OriginCounters
    let started = HTTPDate.now()

    struct LeaderView: Encodable {
        var id: String?
    }

    struct ClusterStatusView: Encodable {
        var id: String
        var leading: Bool
        var leader: String?
        var etcdConnected: Bool
        var revision: Int64
        var controllers: [String]
        var agents: [String]
        var routers: [String]
        var committed: Int
        var conflicts: Int
    }

    func respond(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            var r = HTTPResponse.text(.methodNotAllowed, "the API is read-only: use GET (operators edit the state with `ecdn state`)\n")
            r.headers.add(name: "Allow", value: "GET, HEAD")
            return r
        }
        let state = controller.view.current
        switch request.path {
        case "/", "/dashboard", "/dashboard/":
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"], body: ByteBuffer(string: Dashboard.html))
        case "/api/leader":
            return json(LeaderView(id: state.leader?.record.id))
        case "/api/cluster":
            let counts = controller.transactionCounts
            return json(ClusterStatusView(
                id: controller.configuration.id, leading: controller.isLeader, leader: state.leader?.record.id, etcdConnected: state.connected,
                revision: state.revision, controllers: state.controllers.keys.sorted(), agents: state.agents.keys.sorted(),
                routers: state.routers.keys.sorted(), committed: counts.committed, conflicts: counts.conflicts
            ))
        case "/api/instances":
            let all = Self.instances(state) + controller.stoppedInstances()
            return json(request.queryItem("state").map { s in all.filter { $0.state.rawValue == s } } ?? all)
        case "/api/sites":
            let live = Self.instances(state)
            return json(state.siteList.map { site in
                let reports = state.demand.values.compactMap { $0[site.name] }.flatMap(\.tenants.values)
                return APIResponder.SiteView(
                    name: site.name, clientPrefix: site.clientPrefix, backend: site.configuration.backend.rawValue, maxInstances: site.maxInstances,
                    instances: live.filter { $0.site == site.name && $0.state != .stopped }.count,
                    viewers: reports.reduce(0) { $0 + $1.viewers }, requests: reports.reduce(0) { $0 + $1.requests },
                    toCache: reports.reduce(0) { $0 + $1.toCache }, toOrigin: reports.reduce(0) { $0 + $1.toOrigin },
                    waited: reports.reduce(0) { $0 + $1.waited }
                )
            })
        case "/api/tenants":
            return json(state.tenantList.map {
                APIResponder.TenantView(name: $0.name, origin: $0.origin, hostnames: $0.hostnames, pathPrefix: $0.pathPrefix, quotaPerSite: $0.quotaPerSite)
            })
        case "/api/demand":
            var rows: [APIResponder.DemandView] = []
            for site in state.siteList {
                for tenant in state.tenantList {
                    let reports = state.demand.values.compactMap { $0[site.name]?.tenants[tenant.name] }
                    var contents: [String: Int] = [:]
                    for r in reports { contents.merge(r.contents, uniquingKeysWith: +) }
                    rows.append(APIResponder.DemandView(
                        site: site.name, tenant: tenant.name, viewers: reports.reduce(0) { $0 + $1.viewers },
                        desired: state.running(site: site.name, tenant: tenant.name).count, contents: contents
                    ))
                }
            }
            return json(rows)
        case "/api/events":
            let limit = request.queryItem("limit").flatMap(Int.init) ?? 100
            return json(Array(controller.events().suffix(max(0, limit))))
        case "/api/summary":
            let live = Self.instances(state)
            let all = live + controller.stoppedInstances()
            let cacheBytes = all.reduce(0) { $0 + $1.bytesSent }
            let origin = originCounters()
            let reports = state.demand.values.flatMap(\.values).flatMap(\.tenants.values)
            let share = origin.flatMap { o in cacheBytes + o.bytes > 0 ? Double(cacheBytes) / Double(cacheBytes + o.bytes) : nil }
            return json(APIResponder.SummaryView(
                uptimeSeconds: HTTPDate.now() - started, mode: controller.configuration.controller.mode.rawValue, backend: "agents",
                instancesRunning: live.filter { $0.state != .stopped }.count,
                cacheRequests: all.reduce(0) { $0 + $1.requests }, cacheBytes: cacheBytes,
                originRequests: origin?.requests, originBytes: origin?.bytes, cacheByteShare: share,
                routedToCache: reports.reduce(0) { $0 + $1.toCache }, routedToOrigin: reports.reduce(0) { $0 + $1.toOrigin },
                instanceSeconds: all.reduce(0) { $0 + (($1.stoppedAt ?? HTTPDate.now()) - $1.startedAt) }, instanceStarts: all.count
            ))
        default:
            return .text(.notFound, "unknown path; try /api/leader, /api/cluster, /api/sites, /api/tenants, /api/instances, /api/demand, /api/events, /api/summary or / (dashboard)\n")
        }
    }

    /// Every placed instance: its agent's status when reported, else the placement as `starting`.
    static func instances(_ state: ClusterState) -> [InstanceRecord] {
        var result: [InstanceRecord] = []
        for site in state.siteList {
            for placement in (state.placements[site.name] ?? [:]).values.map(\.record).sorted(by: { $0.placedAt < $1.placedAt }) {
                if var status = state.status[placement.id]?.instance {
                    if placement.want == .stop, status.state == .ready { status.state = .draining }
                    result.append(status)
                } else {
                    result.append(InstanceRecord(
                        id: placement.id, site: placement.site, tenant: placement.tenant, state: placement.want == .run ? .starting : .draining,
                        url: placement.spec.url, adminURL: placement.spec.adminURL, backend: "", startedAt: placement.placedAt,
                        reason: placement.reason
                    ))
                }
            }
        }
        return result
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
