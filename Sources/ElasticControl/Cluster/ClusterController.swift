import EtcdClient
import HTTPToolkit
import Logging
import ServiceLifecycle
import Synchronization

/// How a controller of the distributed control plane runs.
public struct ClusterControllerConfiguration: Sendable {
    /// This controller's name (unique in the cluster).
    public var id: String
    /// Its API's URL, published with its membership (nil: none).
    public var url: String?
    /// Seconds of the controller's etcd lease: a standby takes over this long after a leader
    /// dies at the latest. etcd raises very short TTLs to its minimum (2 s with default timing).
    /// Default 2.
    public var leaseTTL: Int64
    /// Policy, timing and instance ports, as for `ecdn up`.
    public var controller: ControllerConfiguration

    public init(id: String, url: String? = nil, leaseTTL: Int64 = 2, controller: ControllerConfiguration = ControllerConfiguration()) {
        self.id = id
        self.url = url
        self.leaseTTL = leaseTTL
        self.controller = controller
    }
}

/// A controller of the distributed control plane (`ecdn controller`): several run, one leads.
///
/// Each follows the cluster's keys (``ClusterView``) and campaigns for the lease-backed `leader`
/// key; the leader plans with ``ClusterPlanner`` on every change and every tick, and commits each
/// site's plan in one transaction that holds only if it still leads (the leader key carries its
/// lease) and nothing at that site changed since the state it planned on. A standby, or a leader
/// that paused past its lease, can therefore never place an instance twice.
public final class ClusterController: Service, Sendable {
    public let configuration: ClusterControllerConfiguration
    public let view: ClusterView
    public let client: EtcdClient
    private let keys: ClusterKeys
    private let planner: ClusterPlanner
    private let lease: MemberLease
    private let followsView: Bool
    private let logger: Logger
    private let advertised: Mutex<String?>
    private let record = Mutex<(events: [ControlEvent], stopped: [InstanceRecord], leading: Bool, commits: Int, conflicts: Int)>(([], [], false, 0, 0))
    private let backoff = Mutex(StartBackoff())

    /// - Parameter view: a view another role of this process already follows (nil: follow one).
    public init(configuration: ClusterControllerConfiguration, client: EtcdClient, view: ClusterView? = nil, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.followsView = view == nil
        self.advertised = Mutex(configuration.url)
        self.view = view ?? ClusterView(logger: logger)
        self.keys = self.view.keys
        self.planner = ClusterPlanner(configuration: configuration.controller)
        self.lease = MemberLease(client: client, ttl: configuration.leaseTTL, logger: logger)
        var logger = logger
        logger[metadataKey: "controller.id"] = "\(configuration.id)"
        self.logger = logger
    }

    /// Publishes the URL of this controller's API with its membership (before ``run()``).
    public func advertise(url: String) { advertised.withLock { $0 = url } }

    /// The leading controller's id, as this controller sees it.
    public var leaderID: String? { view.read { $0.leader?.record.id } }

    /// Whether this controller leads now (its lease is fresh and the leader key carries it).
    public var isLeader: Bool {
        guard let lease = lease.current else { return false }
        return view.read { $0.leader?.record.id == configuration.id && $0.connected } && lease.id != 0
    }

    /// Recent events, oldest first.
    public func events() -> [ControlEvent] { record.withLock { $0.events } }

    /// Instances this controller saw stop (the last 50).
    public func stoppedInstances() -> [InstanceRecord] { record.withLock { $0.stopped } }

    /// Transactions committed and refused (a conflict: another writer, or no longer leading).
    public var transactionCounts: (committed: Int, conflicts: Int) { record.withLock { ($0.commits, $0.conflicts) } }

    /// Runs until shutdown.
    /// - Throws: ``ControlError`` `badConfiguration` when another controller of the cluster places
    ///   caches with a different `instanceTLS` (`--cache-tls`): this one stops before it campaigns.
    public func run() async throws {
        let refusal: ControlError? = await cancelWhenGracefulShutdown {
            await withTaskGroup(of: ControlError?.self) { group in
                if self.followsView {
                    group.addTask {
                        await self.view.follow(self.client)
                        return nil
                    }
                }
                group.addTask {
                    await self.lease.run { lease throws(EtcdError) in
                        try await self.client.put(self.keys.controller(self.configuration.id), value: ClusterRecords.encode(self.member()), lease: lease.id)
                    }
                    return nil
                }
                group.addTask {
                    if let error = await self.disagreement() {
                        self.logger.error("not leading: \(error.message)")
                        return error
                    }
                    await withTaskGroup(of: Void.self) { loops in
                        loops.addTask { await self.campaignLoop() }
                        loops.addTask { await self.decisionLoop() }
                    }
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
        // Leaving cleanly frees the leader key at once: a standby leads without waiting for the TTL.
        await lease.revoke()
        if let refusal { throw refusal }
    }

    private func member() -> MemberRecord {
        MemberRecord(
            id: configuration.id, role: "controller", url: advertised.withLock { $0 }, since: HTTPDate.now(),
            cacheTLS: configuration.controller.instanceTLS
        )
    }

    /// Once the view holds this controller's own membership: why it must not lead, or nil. Two
    /// controllers that disagree on HTTPS for caches would place caches their routers reach by
    /// the wrong scheme after every fail-over, so a controller joining a cluster whose live
    /// controllers place them otherwise refuses (the ones already running go on).
    private func disagreement() async -> ControlError? {
        let id = configuration.id
        while !Task.isCancelled {
            if await view.wait(timeout: 1, until: { $0.synced && $0.controllers[id] != nil }) { break }
        }
        let mine = configuration.controller.instanceTLS
        let others = view.read { state in
            state.controllers.values.filter { $0.id != id && $0.cacheTLS.map { $0 != mine } ?? false }.map(\.id).sorted()
        }
        guard let other = others.first else { return nil }
        let theirs = mine ? "without --cache-tls (HTTP caches)" : "with --cache-tls (HTTPS caches)"
        let ours = mine ? "with it" : "without it"
        return ControlError(
            .badConfiguration,
            "controller \(other) of this cluster places caches \(theirs) and this one was started \(ours): give every controller the same --cache-tls (start this one \(mine ? "without" : "with") it, or restart them all the same way)"
        )
    }

    // MARK: Election

    private func campaignLoop() async {
        let changes = view.changes()
        let ticker = Self.ticks(every: .milliseconds(250))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in changes { await self.campaign() } }
            group.addTask { for await _ in ticker { await self.campaign() } }
            await group.next()
            group.cancelAll()
        }
    }

    private func campaign() async {
        guard let lease = lease.current, view.read({ $0.synced && $0.leader == nil }) else {
            noteLeadership()
            return
        }
        let won = (try? await client.transaction(
            if: [.absent(keys.leader)], then: [.put(key: keys.leader, value: ClusterRecords.encode(member()), lease: lease.id)]
        ))?.succeeded ?? false
        if won {
            logger.notice("leading the cluster")
            _ = await view.wait(timeout: 2) { $0.leader?.record.id == self.configuration.id }
        }
        noteLeadership()
    }

    private func noteLeadership() {
        let leading = isLeader
        let changed = record.withLock { r -> Bool in
            defer { r.leading = leading }
            return r.leading != leading
        }
        guard changed else { return }
        event(leading ? "lead" : "standby", site: "", tenant: "", instance: "", leading ? "\(configuration.id) leads" : "\(configuration.id) stands by (leader: \(leaderID ?? "none"))")
        if !leading { logger.notice("standing by", metadata: ["leader": "\(leaderID ?? "none")"]) }
    }

    // MARK: Decisions

    private func decisionLoop() async {
        let changes = view.changes()
        let ticker = Self.ticks(every: .milliseconds(Int64(configuration.controller.tick * 1000)))
        let (rounds, trigger) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in changes { trigger.yield() }
            }
            group.addTask {
                for await _ in ticker { trigger.yield() }
            }
            group.addTask {
                var wasConnected = true
                for await _ in rounds {
                    let connected = self.view.read { $0.connected }
                    if connected != wasConnected {
                        wasConnected = connected
                        if connected { self.logger.notice("etcd reachable: deciding again") } else { self.logger.warning("etcd unreachable: not deciding") }
                    }
                    if self.isLeader { await self.decide() }
                    // A floor between rounds, so a burst of changes costs one round.
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// One round: plan on the current view and commit each site's plan.
    func decide() async {
        await decide(on: view.current)
    }

    /// Plans on `state` and commits each site's plan; a plan made on a state that is no longer
    /// current, or by a controller that no longer leads, is refused by etcd (a conflict).
    func decide(on state: ClusterState) async {
        guard let lease = lease.current else { return }
        guard state.synced, state.connected else { return }
        let now = HTTPDate.now()
        let held = backoff.withLock { $0.held(now: now) }
        let plans = planner.plan(state, leader: configuration.id, now: now, holding: held)
        await withTaskGroup(of: Void.self) { group in
            for plan in plans {
                group.addTask { await self.commit(plan, state: state, lease: lease) }
            }
        }
    }

    private func commit(_ plan: SitePlan, state: ClusterState, lease: EtcdLease) async {
        let site = plan.site
        var operations: [EtcdOperation] = []
        for p in plan.place {
            operations.append(.put(key: keys.placement(site: site, id: p.id), value: ClusterRecords.encode(p)))
            operations.append(.put(key: keys.slot(site: site, p.slot), value: Array(p.id.utf8)))
        }
        for (id, reason) in plan.stop {
            guard var p = state.placements[site]?[id]?.record else { continue }
            p.want = .stop
            p.reason = reason
            operations.append(.put(key: keys.placement(site: site, id: id), value: ClusterRecords.encode(p)))
        }
        for (id, slot) in plan.remove {
            operations += [.delete(key: keys.placement(site: site, id: id)), .delete(key: keys.slot(site: site, slot)), .delete(key: keys.status(site: site, id: id))]
        }
        let compares: [EtcdCompare] = [
            EtcdCompare(key: keys.leader, .equal, .lease(lease.id)),
            .prefixUnchanged(keys.placements(site: site), since: state.revision),
            .prefixUnchanged(keys.slots(site: site), since: state.revision),
        ]
        do {
            let result = try await client.transaction(if: compares, then: operations)
            guard result.succeeded else {
                record.withLock { $0.conflicts += 1 }
                logger.debug("plan not committed: the site changed or leadership moved", metadata: ["site": "\(site)"])
                // Wait for the view to catch up with whatever changed, then plan again.
                _ = await view.wait(timeout: 0.5) { $0.revision > state.revision }
                return
            }
            record.withLock { $0.commits += 1 }
            for e in plan.events {
                event(e.kind, site: site, tenant: e.tenant, instance: e.instance, e.message)
                logger.info("\(e.kind)", metadata: ["site": "\(site)", "instance.id": "\(e.instance)", "message": "\(e.message)"])
            }
            for e in plan.events where ["not-ready", "crash", "launch-failed"].contains(e.kind) {
                let (failures, hold) = backoff.withLock { $0.failed(DesiredKey(site: site, tenant: e.tenant), now: HTTPDate.now()) }
                let message = "\(failures) failed start\(failures == 1 ? "" : "s") of \(e.tenant) at \(site) in a row: next placement in \(hold) s at the earliest"
                event("backoff", site: site, tenant: e.tenant, instance: e.instance, message)
                logger.warning("backing off", metadata: ["site": "\(site)", "tenant": "\(e.tenant)", "failures": "\(failures)", "hold.s": "\(hold)"])
            }
            for (id, _) in plan.remove {
                if let status = state.status[id]?.instance { rememberStopped(status) }
                else if let p = state.placements[site]?[id]?.record {
                    rememberStopped(InstanceRecord(
                        id: id, site: site, tenant: p.tenant, state: .stopped, url: p.spec.url, adminURL: p.spec.adminURL, backend: "",
                        startedAt: p.placedAt, stoppedAt: HTTPDate.now(), reason: p.reason ?? "lost"
                    ))
                }
            }
            // The next round must see this commit, or it would plan the same again.
            _ = await view.wait(timeout: 1) { $0.revision >= result.revision }
        } catch {
            logger.warning("cannot commit a plan", metadata: ["site": "\(site)", "error": "\(error)"])
        }
    }

    private func rememberStopped(_ instance: InstanceRecord) {
        var instance = instance
        instance.state = .stopped
        record.withLock { r in
            r.stopped.append(instance)
            if r.stopped.count > 50 { r.stopped.removeFirst(r.stopped.count - 50) }
        }
    }

    private func event(_ kind: String, site: String, tenant: String, instance: String, _ message: String) {
        let e = ControlEvent(time: HTTPDate.now(), kind: kind, site: site, tenant: tenant, instance: instance, message: message)
        record.withLock { r in
            r.events.append(e)
            if r.events.count > 500 { r.events.removeFirst(r.events.count - 500) }
        }
    }

    static func ticks(every interval: Duration) -> AsyncStream<Void> {
        AsyncStream { continuation in
            let task = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    continuation.yield()
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
