import Logging
import NIOCore
import ServiceLifecycle

/// Everything `ecdn up` runs, with built-in defaults: a demo origin, three loopback sites, the
/// router, the controller, the API with its dashboard, and optionally demo viewers.
public struct ElasticCDNConfiguration: Sendable {
    /// Address of the router, API and demo origin. Default 127.0.0.1.
    public var host: String
    /// Preferred ports; a taken port falls back to a free one. Defaults 8000, 8001, 8002.
    public var routerPort: Int
    public var apiPort: Int
    public var originPort: Int
    public var sites: [SiteConfiguration]
    /// Tenants; nil: `default` (path `/`, live channels) and `vod` (path `/vod/`), both on the
    /// origin; empty: only `default`.
    public var tenants: [TenantConfiguration]?
    /// Use this origin instead of running the demo origin.
    public var externalOrigin: String?
    public var origin: DemoOriginConfiguration
    public var controller: ControllerConfiguration
    public var backend: ProcessBackendConfiguration
    /// Client prefix to site; nil derives it from the sites.
    public var prefixTable: PrefixTable?
    /// Demo viewers (`--demo`): nil runs none.
    public var demoProfile: LoadProfile?

    public init(
        host: String = "127.0.0.1",
        routerPort: Int = 8000,
        apiPort: Int = 8001,
        originPort: Int = 8002,
        sites: [SiteConfiguration] = SiteConfiguration.loopbackSites(),
        tenants: [TenantConfiguration]? = nil,
        externalOrigin: String? = nil,
        origin: DemoOriginConfiguration = DemoOriginConfiguration(),
        controller: ControllerConfiguration = ControllerConfiguration(),
        backend: ProcessBackendConfiguration,
        prefixTable: PrefixTable? = nil,
        demoProfile: LoadProfile? = nil
    ) {
        self.host = host
        self.routerPort = routerPort
        self.apiPort = apiPort
        self.originPort = originPort
        self.sites = sites
        self.tenants = tenants
        self.externalOrigin = externalOrigin
        self.origin = origin
        self.controller = controller
        self.backend = backend
        self.prefixTable = prefixTable
        self.demoProfile = demoProfile
    }
}

/// The running parts of `ecdn up`, bound and accepting; run ``services`` in a `ServiceGroup`.
public final class ElasticCDN: Sendable {
    public let origin: DemoOrigin?
    public let originURL: String
    public let controller: Controller
    public let router: Router
    public let api: APIServer
    public let backend: ProcessBackend
    public let demo: LoadGenerator?

    /// Binds every listener. Order of ``services``: origin, controller, router, API, demo.
    /// - Throws: ``ControlError`` when a part cannot start.
    public init(configuration c: ElasticCDNConfiguration, group: any EventLoopGroup, logger: Logger) async throws(ControlError) {
        var originConfiguration = c.origin
        originConfiguration.host = c.host
        if let external = c.externalOrigin {
            _ = try HTTPURL(external)
            origin = nil
            originURL = external
        } else {
            let o = try await Self.withFallback(port: c.originPort, logger: logger) { port throws(ControlError) in
                originConfiguration.port = port
                return try await DemoOrigin(configuration: originConfiguration, group: group, logger: logger)
            }
            origin = o
            originURL = o.url
        }
        let tenants = Self.tenants(c.tenants, origin: originURL)
        backend = try ProcessBackend(configuration: c.backend, logger: logger)
        controller = try Controller(configuration: c.controller, sites: c.sites, tenants: tenants, backend: backend, group: group, logger: logger)
        let controller = controller
        router = try await Self.withFallback(port: c.routerPort, logger: logger) { port throws(ControlError) in
            try await Router(configuration: RouterConfiguration(host: c.host, port: port, prefixTable: c.prefixTable), controller: controller, group: group, logger: logger)
        }
        let origin = origin
        api = try await Self.withFallback(port: c.apiPort, logger: logger) { port throws(ControlError) in
            try await APIServer(host: c.host, port: port, controller: controller, originCounters: { origin?.counters }, group: group, logger: logger)
        }
        if let profile = c.demoProfile {
            let load = LoadConfiguration(
                router: router.url, sitePrefixes: c.sites.map(\.clientPrefix), siteNames: c.sites.map(\.name),
                channels: originConfiguration.channels, profile: profile, duration: nil, watch: 15...45, maxViewers: 40
            )
            demo = try LoadGenerator(configuration: load, group: group, logger: logger)
        } else {
            demo = nil
        }
    }

    /// The tenants of ``ElasticCDNConfiguration/tenants`` on `origin`.
    static func tenants(_ given: [TenantConfiguration]?, origin: String) -> [TenantConfiguration] {
        let defaultTenant = TenantConfiguration(name: "default", origin: origin, pathPrefix: "/", quotaPerSite: 2)
        switch given {
        case nil: return [defaultTenant, TenantConfiguration(name: "vod", origin: origin, pathPrefix: "/vod/", quotaPerSite: 1)]
        case let given? where given.isEmpty: return [defaultTenant]
        case let given?: return given
        }
    }

    /// The parts to run, in start order.
    public var services: [any Service] {
        var services: [any Service] = []
        if let origin { services.append(origin) }
        services += [controller, router, api] as [any Service]
        if let demo { services.append(demo) }
        return services
    }

    /// Tries `port`, then any free port if that one is taken.
    static func withFallback<T>(port: Int, logger: Logger, _ bind: (Int) async throws(ControlError) -> T) async throws(ControlError) -> T {
        do {
            return try await bind(port)
        } catch where error.code == .bindFailed && port != 0 {
            logger.notice("port taken, using a free one", metadata: ["port": "\(port)"])
            return try await bind(0)
        }
    }
}
