/// Where the distributed control plane keeps its state in etcd (docs/distributed.md).
///
/// Every value is a JSON object with `"schema": 1` (see ``ClusterRecords``). Keys under one
/// root (default `/ecdn/`):
///
/// | key | value | written by | lease |
/// | --- | --- | --- | --- |
/// | `sites/<site>` | ``SiteRecord`` | operators (`ecdn state`), `ecdn up`, the test bed | none |
/// | `tenants/<tenant>` | ``TenantRecord`` | operators | none |
/// | `leader` | ``LeaderRecord``: the leading controller | the controller that won the election | the leader's |
/// | `controllers/<id>` | ``MemberRecord`` | every controller | its own |
/// | `agents/<site>` | ``MemberRecord`` | the site's agent | its own |
/// | `routers/<id>` | ``MemberRecord`` | every router | its own |
/// | `placements/<site>/<instance>` | ``PlacementRecord``: an instance the site should run (or stop) | the leader, by transaction | none |
/// | `slots/<site>/<n>` | the instance holding address slot n | the leader, with the placement | none |
/// | `status/<site>/<instance>` | ``InstanceRecord`` with ``StatusRecord`` fields: what runs | the site's agent | the agent's |
/// | `demand/<router>/<site>` | ``DemandRecord``: viewers per tenant, batched per tick | each router | the router's |
/// | `desired/<site>/<tenant>` | ``DesiredRecord``: instances wanted | the leader (and ``EtcdStateStore``) | none |
/// | `leases/<name>` | ``LeaseHolderRecord`` (``StateStore/acquireLease``) | ``EtcdStateStore`` | a TTL lease |
public struct ClusterKeys: Sendable, Equatable {
    /// The root, ending in `/`. Default `/ecdn/`.
    public var root: String

    public init(root: String = "/ecdn/") {
        self.root = root.hasSuffix("/") ? root : root + "/"
    }

    public var sites: String { root + "sites/" }
    public func site(_ name: String) -> String { sites + name }
    public var tenants: String { root + "tenants/" }
    public func tenant(_ name: String) -> String { tenants + name }
    public var leader: String { root + "leader" }
    public var controllers: String { root + "controllers/" }
    public func controller(_ id: String) -> String { controllers + id }
    public var agents: String { root + "agents/" }
    public func agent(_ site: String) -> String { agents + site }
    public var routers: String { root + "routers/" }
    public func router(_ id: String) -> String { routers + id }
    public var placements: String { root + "placements/" }
    public func placements(site: String) -> String { placements + site + "/" }
    public func placement(site: String, id: String) -> String { placements(site: site) + id }
    public var slots: String { root + "slots/" }
    public func slots(site: String) -> String { slots + site + "/" }
    public func slot(site: String, _ n: Int) -> String { slots(site: site) + String(n) }
    public var status: String { root + "status/" }
    public func status(site: String, id: String) -> String { status + site + "/" + id }
    public var demand: String { root + "demand/" }
    public func demand(router: String, site: String) -> String { demand + router + "/" + site }
    public var desired: String { root + "desired/" }
    public func desired(site: String, tenant: String) -> String { desired + site + "/" + tenant }
    public var leases: String { root + "leases/" }
    public func lease(_ name: String) -> String { leases + name }

    /// The part of `key` after the root, split at `/`.
    public func components(_ key: String) -> [Substring] {
        guard key.hasPrefix(root) else { return [] }
        return key.dropFirst(root.count).split(separator: "/", omittingEmptySubsequences: false)
    }
}
