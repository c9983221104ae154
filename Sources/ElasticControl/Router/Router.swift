import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The router: finds the viewer's site from the client address, the tenant from the host name or
/// path, asks the controller, and answers `302` to the chosen cache or the origin.
public final class Router: Service, Sendable {
    public let prefixTable: PrefixTable
    private let controller: Controller
    private let server: HTTPServer
    private let logger: Logger

    /// Binds the listener; routing starts at once, ``run()`` keeps it until shutdown.
    /// - Throws: ``ControlError`` `badPrefixTable`, `bindFailed`, or `badConfiguration` for a
    ///   certificate that cannot be loaded.
    public init(configuration: RouterConfiguration = RouterConfiguration(), controller: Controller, group: any EventLoopGroup, logger: Logger) async throws(ControlError) {
        let table: PrefixTable
        if let given = configuration.prefixTable {
            table = given
        } else {
            var entries: [PrefixTable.Entry] = []
            for site in controller.sites {
                guard let (network, length) = PrefixTable.parsePrefix(site.clientPrefix[...]) else {
                    throw ControlError(.badPrefixTable, "site \(site.name): client prefix '\(site.clientPrefix)' is not A.B.C.D/LEN")
                }
                entries.append(PrefixTable.Entry(network: network, length: length, site: site.name))
            }
            table = PrefixTable(entries: entries)
        }
        self.prefixTable = table
        self.controller = controller
        self.logger = logger
        let tenants = controller.tenants
        self.server = try await HTTPServer.bind(
            host: configuration.host, port: configuration.port, tls: configuration.tls, group: group, logger: logger
        ) { request in
            await Self.respond(request, table: table, tenants: tenants, controller: controller)
        }
    }

    /// `http://host:port` (`https://` with TLS) of the router.
    public var url: String { server.url }
    public var port: Int { server.localAddress.port ?? 0 }

    public func run() async throws {
        try? await gracefulShutdown()
        await server.close()
    }

    static func respond(_ request: HTTPRequest, table: PrefixTable, tenants: [TenantConfiguration], controller: Controller) async -> HTTPResponse {
        await respond(request, table: table, tenants: tenants) { site, tenant, client, content in
            await controller.route(site: site, tenant: tenant, client: client, content: content)
        }
    }

    /// Answers one viewer request: `route` decides for the site, tenant, client address and content.
    static func respond(
        _ request: HTTPRequest, table: PrefixTable, tenants: [TenantConfiguration],
        route: (_ site: String, _ tenant: String, _ client: String, _ content: String) async -> RouteTarget
    ) async -> HTTPResponse {
        switch viewer(request, table: table, tenants: tenants) {
        case .answer(let response):
            return response
        case .ask(let question):
            return response(to: request, site: question.site, target: await route(question.site ?? "", question.tenant, question.client, question.content))
        }
    }

    /// What a viewer request asks the router to decide.
    struct Question {
        /// The client's site, nil when its address is outside every site.
        var site: String?
        var tenant: String
        var client: String
        var content: String
    }

    /// A viewer request: refused at once (method, tenant), or a question to decide.
    enum Viewer {
        case answer(HTTPResponse)
        case ask(Question)
    }

    static func viewer(_ request: HTTPRequest, table: PrefixTable, tenants: [TenantConfiguration]) -> Viewer {
        guard request.method == .GET || request.method == .HEAD else {
            var r = HTTPResponse.text(.methodNotAllowed, "the router redirects GET and HEAD only\n")
            r.headers.add(name: "Allow", value: "GET, HEAD")
            return .answer(r)
        }
        guard let tenant = tenantFor(request, tenants: tenants) else {
            return .answer(.text(.notFound, "no tenant serves this host and path\n"))
        }
        let client = request.remoteIP
        return .ask(Question(site: table.site(for: client), tenant: tenant.name, client: client, content: content(of: request.path)))
    }

    /// The redirect for a decision.
    static func response(to request: HTTPRequest, site: String?, target: RouteTarget) -> HTTPResponse {
        var response: HTTPResponse
        switch target {
        case .cache(let url, let instance):
            response = .redirect(to: url + request.uri)
            response.headers.add(name: "X-ECDN-Instance", value: instance)
        case .origin(let url, let reason):
            response = .redirect(to: url + request.uri)
            response.headers.add(name: "X-ECDN-Origin-Reason", value: reason)
        }
        response.headers.add(name: "X-ECDN-Site", value: site ?? "none")
        return response
    }

    /// The content a path names, for demand counting: its first two segments (`/live/1`).
    static func content(of path: String) -> String {
        var content = ""
        var segments = 0
        var rest = path[...]
        while segments < 2, let start = rest.firstIndex(where: { $0 != "/" }) {
            let end = rest[start...].firstIndex(of: "/") ?? rest.endIndex
            content += "/"
            content += rest[start..<end]
            segments += 1
            rest = rest[end...]
        }
        return content.isEmpty ? "/" : content
    }

    /// The tenant whose host name matches, else the one with the longest matching path prefix.
    static func tenantFor(_ request: HTTPRequest, tenants: [TenantConfiguration]) -> TenantConfiguration? {
        if let host = request.headers.first(name: "Host") {
            let name = host.split(separator: ":").first.map(String.init)?.lowercased() ?? ""
            // Host names are written in lower case (almost always): compared as they are first,
            // without a lower-cased copy of each per request.
            if let tenant = tenants.first(where: { $0.hostnames.contains(name) }) { return tenant }
            if let tenant = tenants.first(where: { $0.hostnames.contains { $0.lowercased() == name } }) { return tenant }
        }
        return tenants.filter { request.path.hasPrefix($0.pathPrefix) }.max { $0.pathPrefix.count < $1.pathPrefix.count }
    }
}
