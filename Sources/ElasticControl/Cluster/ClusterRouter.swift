import ElasticPolicy
import EtcdClient
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// How a router of the distributed control plane runs.
public struct ClusterRouterConfiguration: Sendable {
    /// Its name in the cluster (unique). Default `router-<random>`.
    public var id: String
    /// Address and port to listen on (port 0: a free one). Defaults 127.0.0.1, 8000.
    public var host: String
    public var port: Int
    /// Client prefix to site; nil derives it from the sites in the store.
    public var prefixTable: PrefixTable?
    /// Seconds between demand reports (one write per site whose demand changed). Default 1.
    public var reportInterval: Double
    /// Seconds of the router's etcd lease: its demand reports vanish this long after it dies.
    /// Default 3.
    public var leaseTTL: Int64
    /// Policy and timing (threshold, viewers per instance, router wait, viewer lease), as for `ecdn up`.
    public var controller: ControllerConfiguration
    /// Seconds between the router's checks of every ready cache (a TCP connect to its data
    /// port); a cache that fails one gets no viewers until one succeeds. 0 turns the periodic
    /// checks off. Default 1.
    public var cacheCheckInterval: Double
    /// Seconds a check waits for a cache to accept a connection. A viewer that comes back for
    /// content it was already sent to a cache for (it most likely failed there) is sent there
    /// again only after a fresh check. 0 turns every check off. Default 0.5.
    public var cacheCheckTimeout: Double
    /// Serve HTTPS with this certificate and key (as `ecdn up --tls`'s router). Default nil (HTTP).
    public var tls: TLSFiles?

    public init(
        id: String = "router-\(UInt32.random(in: 0...UInt32.max))", host: String = "127.0.0.1", port: Int = 8000, prefixTable: PrefixTable? = nil,
        reportInterval: Double = 1, leaseTTL: Int64 = 3, controller: ControllerConfiguration = ControllerConfiguration(),
        cacheCheckInterval: Double = 1, cacheCheckTimeout: Double = 0.5, tls: TLSFiles? = nil
    ) {
        self.tls = tls
        self.id = id
        self.host = host
        self.port = port
        self.prefixTable = prefixTable
        self.reportInterval = reportInterval
        self.leaseTTL = leaseTTL
        self.controller = controller
        self.cacheCheckInterval = cacheCheckInterval
        self.cacheCheckTimeout = cacheCheckTimeout
    }
}

/// A stateless router of the distributed control plane (`ecdn router`): any number run.
///
/// It decides from its local ``ClusterView`` (sites, tenants, placements, instance status; fed by
/// one etcd watch), with the same ``CachePolicy`` as the controller, so a viewer request costs no
/// etcd round trip. Demand goes back in batches: once per report interval, one key per site whose
/// demand changed; a viewer at a site without a cache triggers one early report for that site,
/// and may be held until the leader's new cache is ready (``ControllerConfiguration/routerWait``).
/// When etcd is unreachable it keeps routing from its last view. It checks the caches it sends
/// viewers to itself (``CacheChecks``), so a cache whose host is cut off gets no more viewers
/// long before its agent's lease lapses, and a viewer that failed there is sent elsewhere.
public final class ClusterRouter: Service, Sendable {
    public let configuration: ClusterRouterConfiguration
    public let view: ClusterView
    private let client: EtcdClient
    private let keys: ClusterKeys
    private let policy: any CachePolicy
    private let lease: MemberLease
    private let followsView: Bool
    private let server: HTTPServer
    private let logger: Logger
    private let checks: CacheChecks?
    private let demand = Mutex(RouterDemand())
    private let tableCache = Mutex<(stamps: (UInt64, UInt64), table: PrefixTable, tenants: [TenantConfiguration])?>(nil)
    /// From the configuration, read on every decision.
    private let readyTimeout: Double
    private let threshold: Int

    /// Binds the listener; routing starts at once (from an empty view until the first snapshot).
    /// - Throws: ``ControlError`` `bindFailed`.
    public init(configuration: ClusterRouterConfiguration, client: EtcdClient, view: ClusterView? = nil, group: any EventLoopGroup, logger: Logger) async throws(ControlError) {
        self.configuration = configuration
        self.client = client
        self.followsView = view == nil
        let view = view ?? ClusterView(logger: logger)
        self.view = view
        self.keys = view.keys
        self.policy = configuration.controller.effectivePolicy
        self.readyTimeout = configuration.controller.readyTimeout
        self.threshold = configuration.controller.threshold
        self.lease = MemberLease(client: client, ttl: configuration.leaseTTL, logger: logger)
        self.logger = logger
        self.checks = configuration.cacheCheckTimeout > 0 ? CacheChecks(timeout: configuration.cacheCheckTimeout, group: group, logger: logger) : nil
        let box = RouterBox()
        self.server = try await HTTPServer.bind(host: configuration.host, port: configuration.port, tls: configuration.tls, group: group, logger: logger, immediate: { request in
            guard let router = box.router else { return .now(.text(.serviceUnavailable, "starting\n")) }
            return router.answer(request)
        })
        box.router = self
    }

    /// `http://host:port` of the router, or `https://` with TLS.
    public var url: String { server.url }
    public var port: Int { server.localAddress.port ?? 0 }

    /// etcd writes this router made (demand reports and its membership), for the measurements:
    /// keys written, and the transactions (each one etcd revision) they were written in.
    public var etcdWrites: (keys: Int, transactions: Int) { demand.withLock { ($0.writes, $0.transactions) } }

    /// Instances whose last check failed: the router sends them no viewers.
    public var unreachableCaches: Set<String> { checks?.unreachable ?? [] }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if self.followsView { group.addTask { await self.view.follow(self.client) } }
                group.addTask {
                    await self.lease.run { lease throws(EtcdError) in
                        let member = MemberRecord(id: self.configuration.id, role: "router", url: self.url, since: HTTPDate.now())
                        try await self.client.put(self.keys.router(self.configuration.id), value: ClusterRecords.encode(member), lease: lease.id)
                        self.demand.withLock { d in
                            d.writes += 1
                            d.transactions += 1
                            d.written = [:]
                        }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int64(self.configuration.reportInterval * 1000)))
                        await self.reportDemand(sites: nil)
                    }
                }
                if let checks = self.checks, self.configuration.cacheCheckInterval > 0 {
                    group.addTask {
                        while !Task.isCancelled {
                            let targets = self.view.read(Self.readyCaches)
                            checks.retain(Set(targets.map(\.id)))
                            await checks.check(all: targets)
                            try? await Task.sleep(for: .milliseconds(Int64(self.configuration.cacheCheckInterval * 1000)))
                        }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        await server.close()
        await lease.revoke()
    }

    // MARK: Routing

    /// Answers a viewer on the listener's event loop when the local view decides it (the common
    /// case: no task, no thread hop); a viewer held for a booting cache, or one whose cache is to
    /// be checked first, is answered from a task.
    func answer(_ request: HTTPRequest) -> HTTPAnswer {
        let (table, tenants) = currentTable()
        switch Router.viewer(request, table: table, tenants: tenants) {
        case .answer(let response):
            return .now(response)
        case .ask(let question):
            switch routeNow(site: question.site ?? "", tenant: question.tenant, client: question.client, content: question.content) {
            case .done(let target):
                return .now(Router.response(to: request, site: question.site, target: target))
            case .pending(let pending):
                return .later { Router.response(to: request, site: question.site, target: await self.routeLater(pending)) }
            }
        }
    }

    /// The prefix table and tenants from the view (rebuilt only when the sites or tenants changed:
    /// a request reads two stamps, it neither sorts nor compares the sites).
    private func currentTable() -> (PrefixTable, [TenantConfiguration]) {
        let stamps = view.read { ($0.sitesStamp, $0.tenantsStamp) }
        if let cached = tableCache.withLock({ $0 }), cached.stamps == stamps { return (cached.table, cached.tenants) }
        let (sites, tenants, current) = view.read { ($0.siteList, $0.tenantList.map(\.configuration), ($0.sitesStamp, $0.tenantsStamp)) }
        let table = configuration.prefixTable ?? PrefixTable(entries: sites.compactMap { site -> PrefixTable.Entry? in
            guard let (network, length) = PrefixTable.parsePrefix(site.clientPrefix[...]) else { return nil }
            return PrefixTable.Entry(network: network, length: length, site: site.name)
        })
        tableCache.withLock { $0 = (current, table, tenants) }
        return (table, tenants)
    }

    /// Decides where a viewer of `tenant` at `site` goes, from the local view.
    public func route(site: String, tenant: String, client: String, content: String = "") async -> RouteTarget {
        switch routeNow(site: site, tenant: tenant, client: client, content: content) {
        case .done(let target): return target
        case .pending(let pending): return await routeLater(pending)
        }
    }

    /// A decision that has to wait: for a check of the cache, the next site, or a booting cache.
    struct PendingRoute: Sendable {
        var key: DesiredKey
        var client: String
        var content: String
        var now: Double
        var decision: Choice?
        var origin: String
        var reason: String
    }

    enum Step {
        case done(RouteTarget)
        case pending(PendingRoute)
    }

    /// The decision from the local view, counting the viewer's arrival; pending when it needs
    /// something to wait for (``routeLater(_:)`` finishes it).
    func routeNow(site: String, tenant: String, client: String, content: String) -> Step {
        let now = HTTPDate.now()
        let key = DesiredKey(site: site, tenant: tenant)
        let (decision, origin, reason) = decide(key: key, client: client, content: content, now: now, record: true)
        let pending = PendingRoute(key: key, client: client, content: content, now: now, decision: decision, origin: origin, reason: reason)
        switch decision {
        case .cache(let url, let id)?:
            guard checkTarget(for: id, key: key, client: client) == nil else { return .pending(pending) }
            demand.withLock { $0.routed(key, instance: id, client: client, now: now, toCache: true) }
            return .done(.cache(url: url, instance: id))
        case nil:
            guard !["site lost", "cache unreachable", "cache booting", "wait"].contains(reason) else { return .pending(pending) }
            demand.withLock { $0.routed(key, instance: nil, client: client, now: now, toCache: false) }
            return .done(.origin(url: origin, reason: reason))
        }
    }

    /// Finishes a pending decision: checks the cache a returning viewer was sent to, looks for
    /// the next site, or holds the viewer for a booting cache.
    func routeLater(_ pending: PendingRoute) async -> RouteTarget {
        let (key, client, content, now) = (pending.key, pending.client, pending.content, pending.now)
        var (decision, origin, reason) = (pending.decision, pending.origin, pending.reason)
        // A viewer back for what it was sent to a cache for goes there again only if it answers
        // a check now; else the decision is made again without that cache.
        for _ in 0..<3 {
            guard case .cache(_, let id)? = decision, await !mayReturn(to: id, key: key, client: client) else { break }
            (decision, origin, reason) = decide(key: key, client: client, content: content, now: now, record: false)
        }
        if reason == "site lost" || reason == "cache unreachable", let next = await nextSite(after: key, client: client, content: content, now: now) {
            // Counted at the site that serves it, so the leader sizes that site for it.
            demand.withLock { d in
                d.arrived(next.key, client: client, content: content, now: now)
                d.routed(next.key, instance: next.id, client: client, now: now, toCache: true)
            }
            return .cache(url: next.url, instance: next.id)
        }
        switch decision {
        case .cache(let url, let id)?:
            demand.withLock { $0.routed(key, instance: id, client: client, now: now, toCache: true) }
            return .cache(url: url, instance: id)
        case nil:
            demand.withLock { $0.routed(key, instance: nil, client: client, now: now, toCache: false) }
            if reason == "cache booting" || reason == "wait" { await reportDemand(sites: [key.site]) }
            guard reason == "wait", configuration.controller.routerWait > 0 else {
                return .origin(url: origin, reason: reason == "wait" ? "cache booting" : reason)
            }
            let (site, tenant) = (key.site, key.tenant)
            let ready = await view.wait(timeout: configuration.controller.routerWait) { state in
                state.running(site: site, tenant: tenant).contains { $0.status?.instance.state == .ready }
            }
            if ready, case .cache(let url, let id)? = decide(key: key, client: client, content: content, now: HTTPDate.now(), record: false).0 {
                demand.withLock { d in
                    d.routed(key, instance: id, client: client, now: now, toCache: true)
                    d.waited(key)
                }
                return .cache(url: url, instance: id)
            }
            return .origin(url: origin, reason: "cache not ready in time")
        }
    }

    enum Choice: Sendable { case cache(url: String, id: String) }

    /// For a viewer of a lost site (its agent's lease lapsed) or of a site whose caches do not
    /// answer: the next site in name order, with a live agent, where the policy sends the viewer
    /// to a ready cache that answers; nil sends it to the origin.
    private func nextSite(after key: DesiredKey, client: String, content: String, now: Double) async -> (key: DesiredKey, url: String, id: String)? {
        let candidates: [String] = view.read { state in
            let names = state.siteList.map(\.name)
            guard let at = names.firstIndex(of: key.site) else { return [] }
            return (names[(at + 1)...] + names[..<at]).filter { name in
                state.agents[name] != nil && state.running(site: name, tenant: key.tenant).contains { r in
                    r.status?.instance.state == .ready && !(checks?.isUnreachable(r.placement.id) ?? false)
                }
            }
        }
        for site in candidates {
            let fallback = DesiredKey(site: site, tenant: key.tenant)
            for _ in 0..<3 {
                guard case .cache(let url, let id)? = decide(key: fallback, client: client, content: content, now: now, record: false).0 else { break }
                if await mayReturn(to: id, key: fallback, client: client) { return (fallback, url, id) }
            }
        }
        return nil
    }

    /// Whether `client` may be sent to instance `id` (of `key`): yes, unless this router or
    /// another (by its demand report) sent it there before and the cache fails a check now.
    private func mayReturn(to id: String, key: DesiredKey, client: String) async -> Bool {
        guard let checks, let target = checkTarget(for: id, key: key, client: client) else { return true }
        return await checks.check(target)
    }

    /// The cache to check before `client` is sent to instance `id` again, or nil when no check is due.
    private func checkTarget(for id: String, key: DesiredKey, client: String) -> CacheChecks.Target? {
        guard checks != nil else { return nil }
        let sentHere = demand.withLock { $0.keys[key]?.instances[id]?[client] != nil }
        return view.read { state in
            guard sentHere || state.wasSent(client, site: key.site, tenant: key.tenant, instance: id),
                let placement = state.placements[key.site]?[id]?.record
            else { return nil }
            return CacheChecks.Target(id: id, host: placement.address, port: placement.port)
        }
    }

    /// Every placed instance whose agent reports it ready: what the periodic checks look at.
    private static func readyCaches(_ state: ClusterState) -> [CacheChecks.Target] {
        state.placements.values.flatMap { $0.values }.compactMap { p in
            guard p.record.want == .run, state.status[p.record.id]?.instance.state == .ready else { return nil }
            return CacheChecks.Target(id: p.record.id, host: p.record.address, port: p.record.port)
        }
    }

    /// The policy's choice on the local view: a ready cache, or why not.
    private func decide(key: DesiredKey, client: String, content: String, now: Double, record: Bool) -> (Choice?, origin: String, reason: String) {
        // The viewers sent to each instance: the demand's own table (shared, not copied).
        let local: (viewers: Int, routed: [String: [String: Double]]) = demand.withLock { d in
            if record { d.arrived(key, client: client, content: content, now: now) }
            return (d.viewers(key), d.keys[key]?.instances ?? [:])
        }
        let readyTimeout = self.readyTimeout
        return view.read { state in
            guard let tenant = state.tenants[key.tenant] else { return (nil, state.tenants.values.first?.origin ?? "", "unknown tenant") }
            guard let siteIndex = state.siteIndex[key.site], state.sites[key.site] != nil else {
                return (nil, tenant.origin, "client outside every site")
            }
            guard state.agents[key.site] != nil else { return (nil, tenant.origin, "site lost") }
            // One pass over the site's placements, without copying them: the site's instances,
            // and the tenant's that run and answer checks, in id order (the policy's numbering).
            var siteInstances = 0
            var placed = 0
            var running: [ClusterState.Placement] = []
            if let sitePlacements = state.placements[key.site] {
                for placement in sitePlacements.values where placement.record.want == .run {
                    siteInstances += 1
                    guard placement.record.tenant == key.tenant else { continue }
                    placed += 1
                    if !(checks?.isUnreachable(placement.record.id) ?? false) { running.append(placement) }
                }
            }
            if running.isEmpty && placed > 0 { return (nil, tenant.origin, "cache unreachable") }
            if running.count > 1 { running.sort { $0.record.id < $1.record.id } }
            var states: [InstanceState] = []
            states.reserveCapacity(running.count)
            for (k, placement) in running.enumerated() {
                let instance = state.status[placement.record.id]?.instance
                let connections = max(local.routed[placement.record.id]?.count ?? 0, instance?.connectionsOpen ?? 0)
                states.append(InstanceState(
                    id: k, phase: instance?.state == .ready ? .ready : .booting(readyAt: placement.record.placedAt + readyTimeout),
                    connections: connections, idleSince: nil
                ))
            }
            let tenantIndex = state.tenantIndex[key.tenant] ?? 0
            let viewers = max(local.viewers, state.viewers(site: key.site, tenant: key.tenant))
            let observation = ContentObservation(site: siteIndex, content: tenantIndex, viewers: viewers, instances: states, siteInstances: siteInstances, now: now)
            switch policy.route(observation).route {
            case .cache(let k):
                return (.cache(url: running[k].url, id: running[k].record.id), tenant.origin, "")
            case .waitForBoot, .waitForNewInstance:
                return (nil, tenant.origin, "wait")
            case .bypass, .bypassToNewInstance:
                return (nil, tenant.origin, "cache booting")
            case .origin:
                return (nil, tenant.origin, viewers >= threshold ? "no cache available" : "below threshold")
            }
        }
    }

    // MARK: Demand reports

    /// Writes the demand of `sites` (nil: every site whose demand changed) in one transaction.
    func reportDemand(sites: Set<String>?) async {
        guard let lease = lease.granted else { return }
        let now = HTTPDate.now()
        let records: [DemandRecord] = demand.withLock { d in
            var sites = sites
            if let early = sites {
                // At most one early report per site per quarter interval: a burst of viewers
                // waiting for a cache costs one write, not one each.
                let due = early.filter { now - (d.earlyReports[$0] ?? 0) >= configuration.reportInterval / 4 }
                guard !due.isEmpty else { return [] }
                for site in due { d.earlyReports[site] = now }
                sites = due
            }
            d.prune(before: now - configuration.controller.viewerLease)
            return d.records(router: configuration.id, sites: sites, now: now)
        }
        guard !records.isEmpty else { return }
        let operations = records.map {
            EtcdOperation.put(key: keys.demand(router: configuration.id, site: $0.site), value: ClusterRecords.encode($0), lease: lease.id)
        }
        do {
            _ = try await client.transaction(if: [], then: operations)
            demand.withLock { d in
                d.writes += records.count
                d.transactions += 1
                for r in records { d.written[r.site] = r.tenants }
            }
        } catch {
            logger.debug("demand not reported (will retry)", metadata: ["error": "\(error)"])
        }
    }
}

/// Lets the listener's responder reach the router once it is initialised.
private final class RouterBox: Sendable {
    private let value = Mutex<ClusterRouter?>(nil)
    var router: ClusterRouter? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
