import ElasticPolicy

/// How the controller runs instances. Defaults suit a demo on one machine.
public struct ControllerConfiguration: Sendable {
    /// Elastic: caches start on demand and stop when idle. Fixed: one instance per tenant at every
    /// site from the start, never stopped (the deployment elastic CDNs are compared with).
    public enum Mode: String, Sendable, CaseIterable {
        case elastic, fixed
    }

    public var mode: Mode
    /// Seconds between ticks (status polls, policy reviews). Default 1.
    public var tick: Double
    /// A cache stops after this many seconds without viewers. Default 30.
    public var idleTimeout: Double
    /// Viewers of a tenant at a site needed to start a cache. Default 1 (the first viewer).
    public var threshold: Int
    /// Viewers one instance takes before another starts (within the tenant's quota). Default 100.
    public var viewersPerInstance: Int
    /// The router holds a viewer up to this long for a booting cache, then sends it to the
    /// origin; 0 sends viewers to the origin while a cache boots. Default 1.
    public var routerWait: Double
    /// An instance not ready after this many seconds is stopped and reported. Default 5.
    public var readyTimeout: Double
    /// A draining instance is stopped once its connections closed, or after this long. Default 10.
    public var drainTimeout: Double
    /// Seconds between SIGTERM and SIGKILL when stopping. Default 5.
    public var stopGrace: Double
    /// A viewer counts as present at a site this long after the router saw it. Default 10.
    public var viewerLease: Double
    /// Port of every instance's data listener (each instance has its own address). Default 18080.
    public var instancePort: Int
    /// Port of every instance's admin listener. Default 18081.
    public var adminPort: Int
    /// Instances serve HTTPS on ``instancePort`` (their backend has the certificate). Default false.
    public var instanceTLS: Bool
    /// Timeout of one `/admin/status` poll. Default 0.5.
    public var statusTimeout: Double
    /// Status polls failing in a row before an instance is killed and replaced. Default 3.
    public var failedPollLimit: Int
    /// How often the controller checks that instance processes are alive. Default 0.1.
    public var crashCheckInterval: Double
    /// The policy; nil builds an ``ElasticCachePolicy`` (elastic) or ``StaticCachePolicy`` (fixed)
    /// from the fields above.
    public var policy: (any CachePolicy)?

    public init(
        mode: Mode = .elastic,
        tick: Double = 1,
        idleTimeout: Double = 30,
        threshold: Int = 1,
        viewersPerInstance: Int = 100,
        routerWait: Double = 1,
        readyTimeout: Double = 5,
        drainTimeout: Double = 10,
        stopGrace: Double = 5,
        viewerLease: Double = 10,
        instancePort: Int = 18080,
        adminPort: Int = 18081,
        statusTimeout: Double = 0.5,
        failedPollLimit: Int = 3,
        crashCheckInterval: Double = 0.1,
        policy: (any CachePolicy)? = nil,
        instanceTLS: Bool = false
    ) {
        self.instanceTLS = instanceTLS
        self.mode = mode
        self.tick = tick
        self.idleTimeout = idleTimeout
        self.threshold = threshold
        self.viewersPerInstance = viewersPerInstance
        self.routerWait = routerWait
        self.readyTimeout = readyTimeout
        self.drainTimeout = drainTimeout
        self.stopGrace = stopGrace
        self.viewerLease = viewerLease
        self.instancePort = instancePort
        self.adminPort = adminPort
        self.statusTimeout = statusTimeout
        self.failedPollLimit = failedPollLimit
        self.crashCheckInterval = crashCheckInterval
        self.policy = policy
    }

    /// The policy the controller calls.
    public var effectivePolicy: any CachePolicy {
        if let policy { return policy }
        switch mode {
        case .elastic:
            return ElasticCachePolicy(
                threshold: threshold, bootTime: 0.05, idleTimeout: idleTimeout, waitForBoot: routerWait > 0,
                maxConnectionsPerInstance: viewersPerInstance
            )
        case .fixed:
            return StaticCachePolicy(maxConnections: viewersPerInstance)
        }
    }
}
