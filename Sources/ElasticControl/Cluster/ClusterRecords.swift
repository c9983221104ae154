import Foundation

/// The JSON values stored under ``ClusterKeys``. Each carries `schema` (now 1): a reader skips
/// values of a newer schema it does not know, so a rolling upgrade can add one.
public enum ClusterRecords {
    /// The schema this build writes and reads.
    public static let schema = 1

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The JSON bytes of `value`.
    public static func encode(_ value: some Encodable) -> [UInt8] {
        (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// The value in `bytes`, or nil when it is not valid JSON of this type or of a newer schema.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        guard let version = try? JSONDecoder().decode(Versioned.self, from: Data(bytes)), (version.schema ?? 0) <= schema else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(bytes))
    }
}

/// The part of every record a reader checks first.
private struct Versioned: Decodable {
    var schema: Int?
}

/// `sites/<site>`: a site as the cluster knows it.
public struct SiteRecord: Sendable, Codable, Equatable {
    public var schema = ClusterRecords.schema
    public var name: String
    public var clientPrefix: String
    public var instanceBase: String
    public var maxInstances: Int
    /// The backend kind of the site's hosts (`process`, `sandbox`); absent means `process`.
    public var backend: String?

    public init(_ site: SiteConfiguration) {
        name = site.name
        clientPrefix = site.clientPrefix
        instanceBase = site.instanceBase
        maxInstances = site.maxInstances
        backend = site.backend.rawValue
    }

    public var configuration: SiteConfiguration {
        SiteConfiguration(
            name: name, clientPrefix: clientPrefix, instanceBase: instanceBase, maxInstances: maxInstances,
            backend: backend.flatMap(BackendKind.init(rawValue:)) ?? .process
        )
    }
}

/// `tenants/<tenant>`: a tenant as the cluster knows it.
public struct TenantRecord: Sendable, Codable, Equatable {
    public var schema = ClusterRecords.schema
    public var name: String
    public var origin: String
    public var hostnames: [String]
    public var pathPrefix: String
    public var quotaPerSite: Int

    public init(_ tenant: TenantConfiguration) {
        name = tenant.name
        origin = tenant.origin
        hostnames = tenant.hostnames
        pathPrefix = tenant.pathPrefix
        quotaPerSite = tenant.quotaPerSite
    }

    public var configuration: TenantConfiguration {
        TenantConfiguration(name: name, origin: origin, hostnames: hostnames, pathPrefix: pathPrefix, quotaPerSite: quotaPerSite)
    }
}

/// `leader`, `controllers/<id>`, `agents/<site>`, `routers/<id>`: a live member of the cluster.
public struct MemberRecord: Sendable, Codable, Equatable {
    public var schema = ClusterRecords.schema
    public var id: String
    /// `controller`, `agent` or `router`.
    public var role: String
    /// The member's HTTP address (a controller's API, a router's listener), if it has one.
    public var url: String?
    /// The agent's site.
    public var site: String?
    /// Wall-clock seconds since 1970 when it joined (or, for `leader`, when it took the lead).
    public var since: Double
    /// A controller's: whether the caches it places serve HTTPS (`--cache-tls`); nil for other
    /// roles and for controllers that do not say.
    public var cacheTLS: Bool?

    public init(id: String, role: String, url: String? = nil, site: String? = nil, since: Double, cacheTLS: Bool? = nil) {
        self.id = id
        self.role = role
        self.url = url
        self.site = site
        self.since = since
        self.cacheTLS = cacheTLS
    }
}

/// `placements/<site>/<instance>`: an instance the leader wants at a site.
public struct PlacementRecord: Sendable, Codable, Equatable {
    /// What the site's agent should do with it.
    public enum Want: String, Sendable, Codable, Equatable {
        /// Start it if it does not run (once: an instance id is never started twice).
        case run
        /// Drain it (no new viewers), then stop it.
        case stop
    }

    public var schema = ClusterRecords.schema
    public var id: String
    public var site: String
    public var tenant: String
    /// The address slot at the site (`slots/<site>/<slot>` holds this id).
    public var slot: Int
    public var address: String
    public var port: Int
    public var adminPort: Int
    public var origin: String
    /// The cache serves HTTPS on ``port`` (its agent has the certificate); absent means HTTP.
    public var tls: Bool?
    public var want: Want
    /// Why it is to stop.
    public var reason: String?
    /// The controller that placed it.
    public var placedBy: String
    /// Wall-clock seconds since 1970.
    public var placedAt: Double

    public init(
        id: String, site: String, tenant: String, slot: Int, address: String, port: Int, adminPort: Int, origin: String, tls: Bool = false,
        want: Want = .run, reason: String? = nil, placedBy: String, placedAt: Double
    ) {
        self.id = id
        self.tls = tls ? true : nil
        self.site = site
        self.tenant = tenant
        self.slot = slot
        self.address = address
        self.port = port
        self.adminPort = adminPort
        self.origin = origin
        self.want = want
        self.reason = reason
        self.placedBy = placedBy
        self.placedAt = placedAt
    }

    public var spec: InstanceSpec {
        InstanceSpec(id: id, site: site, tenant: tenant, address: address, port: port, adminPort: adminPort, origin: origin, tls: tls == true)
    }
}

/// `status/<site>/<instance>`: what the site's agent reports about an instance it runs.
public struct StatusRecord: Sendable, Codable, Equatable {
    public var schema = ClusterRecords.schema
    /// The reporting agent.
    public var agent: String
    public var instance: InstanceRecord
    /// Wall-clock seconds since 1970 when the instance last served a request (its request
    /// counter moved), for idle decisions.
    public var lastActivity: Double

    public init(agent: String, instance: InstanceRecord, lastActivity: Double) {
        self.agent = agent
        self.instance = instance
        self.lastActivity = lastActivity
    }
}

/// `demand/<router>/<site>`: what one router saw at one site recently, written once per tick
/// when it changed.
public struct DemandRecord: Sendable, Codable, Equatable {
    public struct Tenant: Sendable, Codable, Equatable {
        /// Distinct viewers in the last viewer lease (10 s).
        public var viewers: Int
        /// Requests routed since the router started.
        public var requests: Int
        /// Of those, sent to a cache / to the origin.
        public var toCache: Int
        public var toOrigin: Int
        /// Viewers held while a cache booted.
        public var waited: Int
        /// Requests since the router started, by content (`/live/1`).
        public var contents: [String: Int]
        /// Viewers per instance id in the last viewer lease.
        public var instances: [String: Int]
        /// Which viewers (``viewers``) and which per instance (``instances``): the leader counts
        /// the union over every router, so a viewer seen by two routers counts once. Absent in
        /// reports of older routers, whose counts are then added.
        public var sketch: ViewerSketch?
        public var instanceSketches: [String: ViewerSketch]?

        public init(
            viewers: Int = 0, requests: Int = 0, toCache: Int = 0, toOrigin: Int = 0, waited: Int = 0, contents: [String: Int] = [:], instances: [String: Int] = [:],
            sketch: ViewerSketch? = nil, instanceSketches: [String: ViewerSketch]? = nil
        ) {
            self.viewers = viewers
            self.requests = requests
            self.toCache = toCache
            self.toOrigin = toOrigin
            self.waited = waited
            self.contents = contents
            self.instances = instances
            self.sketch = sketch
            self.instanceSketches = instanceSketches
        }
    }

    public var schema = ClusterRecords.schema
    public var router: String
    public var site: String
    /// Wall-clock seconds since 1970.
    public var at: Double
    public var tenants: [String: Tenant]

    public init(router: String, site: String, at: Double, tenants: [String: Tenant]) {
        self.router = router
        self.site = site
        self.at = at
        self.tenants = tenants
    }
}

/// `desired/<site>/<tenant>`: instances wanted.
public struct DesiredRecord: Sendable, Codable, Equatable {
    public var schema = ClusterRecords.schema
    public var count: Int

    public init(count: Int) { self.count = count }
}

/// `leases/<name>`: the holder of a named lease of ``StateStore/acquireLease(_:holder:ttl:now:)``.
public struct LeaseHolderRecord: Sendable, Codable, Equatable {
    public var schema = ClusterRecords.schema
    public var holder: String

    public init(holder: String) { self.holder = holder }
}
