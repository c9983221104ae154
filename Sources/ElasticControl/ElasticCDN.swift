import HTTPToolkit
import Logging
import NIOCore
import ServiceLifecycle

/// The control plane `ecdn up` runs, with built-in defaults: three loopback sites, the router,
/// the controller and the API with its dashboard, in front of one origin.
///
/// The demo origin and the demo viewers are tools of their own (`MediaOrigin`, `PlayerLoad`);
/// `ecdn up` starts them next to this.
public struct ElasticCDNConfiguration: Sendable {
    /// Address of the router and the API. Default 127.0.0.1.
    public var host: String
    /// Preferred ports; a taken port falls back to a free one. Defaults 8000, 8001.
    public var routerPort: Int
    public var apiPort: Int
    /// The origin the tenants fill from, `http://host:port` or `https://host:port`.
    public var origin: String
    public var sites: [SiteConfiguration]
    /// Tenants; nil: `default` (path `/`, live channels) and `vod` (path `/vod/`), both on
    /// ``origin``; empty: only `default`.
    public var tenants: [TenantConfiguration]?
    public var controller: ControllerConfiguration
    /// What every backend shares: the `minicache` executable, the work directory, volumes.
    public var backend: ProcessBackendConfiguration
    /// Isolation and limits of sites whose ``SiteConfiguration/backend`` is `sandbox`.
    public var sandbox: SandboxConfiguration
    /// Image, runtime and limits of sites whose backend is `oci`.
    public var oci: OCIConfiguration
    /// Image, QEMU and guests of sites whose backend is `microvm`.
    public var microvm: MicroVMConfiguration
    /// Client prefix to site; nil derives it from the sites.
    public var prefixTable: PrefixTable?
    /// Serve HTTPS with this certificate: the router, the API and dashboard, and every cache
    /// (process backend), whose addresses the certificate must name. Default nil (HTTP).
    public var tls: TLSFiles?

    public init(
        host: String = "127.0.0.1",
        routerPort: Int = 8000,
        apiPort: Int = 8001,
        origin: String,
        sites: [SiteConfiguration] = SiteConfiguration.loopbackSites(),
        tenants: [TenantConfiguration]? = nil,
        controller: ControllerConfiguration = ControllerConfiguration(),
        backend: ProcessBackendConfiguration,
        sandbox: SandboxConfiguration = SandboxConfiguration(),
        oci: OCIConfiguration = OCIConfiguration(),
        microvm: MicroVMConfiguration = MicroVMConfiguration(),
        prefixTable: PrefixTable? = nil,
        tls: TLSFiles? = nil
    ) {
        self.tls = tls
        self.host = host
        self.routerPort = routerPort
        self.apiPort = apiPort
        self.origin = origin
        self.sites = sites
        self.tenants = tenants
        self.controller = controller
        self.backend = backend
        self.sandbox = sandbox
        self.oci = oci
        self.microvm = microvm
        self.prefixTable = prefixTable
    }
}

/// The running parts of `ecdn up`, bound and accepting; run ``services`` in a `ServiceGroup`.
public final class ElasticCDN: Sendable {
    public let controller: Controller
    public let router: Router
    public let api: APIServer
    /// The backends of the sites (one per kind in use).
    public let backend: SiteBackends

    /// Binds every listener. Order of ``services``: controller, router, API.
    /// - Parameter originCounters: the origin's request and byte counters for the API's summary,
    ///   when the origin runs in this process.
    /// - Throws: ``ControlError`` when a part cannot start.
    public init(
        configuration c: ElasticCDNConfiguration, originCounters: @escaping APIServer.OriginCounters = { nil },
        group: any EventLoopGroup, logger: Logger
    ) async throws(ControlError) {
        _ = try HTTPURL.parse(c.origin)
        let tenants = Self.tenants(c.tenants, origin: c.origin)
        var instances = c.backend
        var control = c.controller
        if let tls = c.tls {
            instances.tls = tls
            control.instanceTLS = true
        }
        backend = try SiteBackends(sites: c.sites, settings: BackendSettings(instances: instances, sandbox: c.sandbox, oci: c.oci, microvm: c.microvm), logger: logger)
        controller = try Controller(configuration: control, sites: c.sites, tenants: tenants, backend: backend, group: group, logger: logger)
        let controller = controller
        router = try await Self.withFallback(port: c.routerPort, logger: logger) { port throws(ControlError) in
            try await Router(
                configuration: RouterConfiguration(host: c.host, port: port, prefixTable: c.prefixTable, tls: c.tls), controller: controller, group: group,
                logger: logger)
        }
        api = try await Self.withFallback(port: c.apiPort, logger: logger) { port throws(ControlError) in
            try await APIServer(host: c.host, port: port, tls: c.tls, controller: controller, originCounters: originCounters, group: group, logger: logger)
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
    public var services: [any Service] { [controller, router, api] }

    /// Tries `port`, then any free port if that one is taken.
    package static func withFallback<T>(port: Int, logger: Logger, _ bind: (Int) async throws(ControlError) -> T) async throws(ControlError) -> T {
        do {
            return try await bind(port)
        } catch where error.code == .bindFailed && port != 0 {
            logger.notice("port taken, using a free one", metadata: ["port": "\(port)"])
            return try await bind(0)
        }
    }
}
