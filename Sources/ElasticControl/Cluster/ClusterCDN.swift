import EtcdClient
import Foundation
import HTTPToolkit
import Logging
import NIOCore
import ServiceLifecycle

/// `ecdn up --store etcd://...`: every role of the distributed control plane in one process
/// against one etcd: a controller (it campaigns like any other), one agent per
/// site, a router and the API. Several such processes (or `ecdn controller`, `ecdn agent`,
/// `ecdn router` on other hosts) share the cluster.
public final class ClusterCDN: Sendable {
    public let client: EtcdClient
    public let view: ClusterView
    public let controller: ClusterController
    public let agents: [SiteAgent]
    public let router: ClusterRouter
    public let api: ClusterAPIServer

    /// Binds every listener and writes the sites and tenants that etcd does not have yet.
    /// - Parameter originCounters: the origin's counters for the API's summary, when it runs here.
    /// - Throws: ``ControlError`` when a part cannot start or etcd cannot be written.
    public init(
        configuration c: ElasticCDNConfiguration, store: EtcdConfiguration, originCounters: @escaping APIServer.OriginCounters = { nil },
        group: any EventLoopGroup, logger: Logger
    ) async throws(ControlError) {
        _ = try HTTPURL.parse(c.origin)
        let tenants = ElasticCDN.tenants(c.tenants, origin: c.origin)
        do {
            client = try EtcdClient(configuration: store, eventLoopGroup: group)
        } catch {
            throw ControlError(.storeFailed, "\(error)", underlying: error)
        }
        try await ClusterSeed.write(client: client, sites: c.sites, tenants: tenants)
        view = ClusterView(logger: logger)
        let id = "up-\(getpid())"
        // With TLS, the router, the API and every cache serve HTTPS with the same certificate.
        var policy = c.controller
        policy.instanceTLS = policy.instanceTLS || c.tls != nil
        let client = client
        let view = view
        router = try await ElasticCDN.withFallback(port: c.routerPort, logger: logger) { port throws(ControlError) in
            try await ClusterRouter(
                configuration: ClusterRouterConfiguration(
                    id: "router-\(id)", host: c.host, port: port, prefixTable: c.prefixTable, controller: policy, tls: c.tls
                ),
                client: client, view: view, group: group, logger: logger
            )
        }
        let controller = ClusterController(
            configuration: ClusterControllerConfiguration(id: id, controller: policy), client: client, view: view, logger: logger
        )
        self.controller = controller
        var agents: [SiteAgent] = []
        for site in c.sites {
            var backend = c.backend
            backend.workDirectory += "/\(site.name)"
            backend.tls = backend.tls ?? c.tls
            agents.append(SiteAgent(
                configuration: SiteAgentConfiguration(
                    site: site.name, id: "agent-\(site.name)-\(id)", readyTimeout: c.controller.readyTimeout,
                    drainTimeout: c.controller.drainTimeout, stopGrace: c.controller.stopGrace
                ),
                backend: try SiteBackends(sites: [site], settings: BackendSettings(instances: backend, sandbox: c.sandbox), logger: logger),
                client: client, view: view, group: group, logger: logger
            ))
        }
        self.agents = agents
        let apiPort = c.apiPort
        let api = try await ElasticCDN.withFallback(port: apiPort, logger: logger) { port throws(ControlError) in
            try await ClusterAPIServer(
                host: c.host, port: port, tls: c.tls, controller: controller,
                originCounters: originCounters, group: group, logger: logger
            )
        }
        self.api = api
        controller.advertise(url: api.url)
    }

    /// The parts to run, in start order.
    public var services: [any Service] {
        [ViewFollower(view: view, client: client)] + agents as [any Service] + [controller, router, api] as [any Service]
    }

    /// Stops every agent's instances and closes the etcd client (after the services ended).
    public func shutdown() async {
        for agent in agents { await agent.shutdown(stopInstances: true) }
        await client.close()
    }
}

/// Follows the cluster for the roles of one process that share a view.
public struct ViewFollower: Service {
    public let view: ClusterView
    public let client: EtcdClient

    public init(view: ClusterView, client: EtcdClient) {
        self.view = view
        self.client = client
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await view.follow(client) }
    }
}
