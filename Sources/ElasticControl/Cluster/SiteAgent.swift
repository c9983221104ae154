import EtcdClient
import Foundation
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// How a site agent runs.
public struct SiteAgentConfiguration: Sendable {
    /// The site this agent runs instances for.
    public var site: String
    /// Its name in the cluster. Default `agent-<site>`.
    public var id: String
    /// Seconds of the agent's etcd lease: its instances' status vanishes this long after it is
    /// cut off, and the leader then marks them lost. Default 3.
    public var leaseTTL: Int64
    /// Seconds between `/admin/status` polls and status reports. Default 1.
    public var statusInterval: Double
    /// An instance not ready after this long is stopped and reported. Default 5.
    public var readyTimeout: Double
    /// A draining instance is stopped once its connections closed, or after this long. Default 10.
    public var drainTimeout: Double
    /// Seconds between SIGTERM and SIGKILL. Default 5.
    public var stopGrace: Double
    /// Status polls failing in a row before an instance is killed. Default 3.
    public var failedPollLimit: Int
    /// The bearer token of the instances' admin listeners (the backend starts them with it;
    /// ``AdminTokenFile``). Default nil: none (loopback instances).
    public var adminToken: String?

    public init(
        site: String, id: String? = nil, leaseTTL: Int64 = 3, statusInterval: Double = 1, readyTimeout: Double = 5,
        drainTimeout: Double = 10, stopGrace: Double = 5, failedPollLimit: Int = 3, adminToken: String? = nil
    ) {
        self.site = site
        self.id = id ?? "agent-\(site)"
        self.leaseTTL = leaseTTL
        self.statusInterval = statusInterval
        self.readyTimeout = readyTimeout
        self.drainTimeout = drainTimeout
        self.stopGrace = stopGrace
        self.failedPollLimit = failedPollLimit
        self.adminToken = adminToken
    }
}

/// The agent of one site host (`ecdn agent`): owns the host's ``SiteBackend``, runs the instances
/// the leader placed at its site, and reports their state and load under its lease.
///
/// It reconciles on every change of its site's placements and every status interval: a placement
/// to run that it never launched is launched (each instance id once); one to stop is drained and
/// stopped; an instance no placement wants is stopped. After a restart it first adopts what the
/// backend still runs (``SiteBackend/adopt()``), so a serving cache is neither restarted nor
/// orphaned. While etcd is unreachable it keeps its instances running and changes nothing.
public final class SiteAgent: Service, Sendable {
    public let configuration: SiteAgentConfiguration
    public let backend: any SiteBackend
    public let view: ClusterView
    private let client: EtcdClient
    private let keys: ClusterKeys
    private let lease: MemberLease
    private let followsView: Bool
    private let http: HTTPClient
    private let logger: Logger
    private let table = Mutex<[String: Local]>([:])
    /// Every id this agent (or the backend it adopted from) ever launched: never launched again.
    private let launched = Mutex<Set<String>>([])
    /// One status write at a time, so a write never lands after a later one (a removed
    /// instance's record written back after its deletion would outlive it); `again`: more to write.
    private let reporting = Mutex<(running: Bool, again: Bool)>((false, false))

    private struct Local: Sendable {
        var spec: InstanceSpec
        var record: InstanceRecord
        var launchedAt: Double
        var lastActivity: Double
        var failedPolls = 0
        /// Draining or stopping: no second stop.
        var stopping = false
        /// The record changed since it was last reported.
        var dirty = true
        /// Gone from this host: its status key is deleted by the next report, then the entry.
        var removed = false
    }

    public init(configuration: SiteAgentConfiguration, backend: any SiteBackend, client: EtcdClient, view: ClusterView? = nil, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.backend = backend
        self.client = client
        self.followsView = view == nil
        self.view = view ?? ClusterView(logger: logger)
        self.keys = self.view.keys
        self.lease = MemberLease(client: client, ttl: configuration.leaseTTL, logger: logger)
        self.http = HTTPClient(group: group, connectTimeout: .milliseconds(500), timeout: .milliseconds(500))
        var logger = logger
        logger[metadataKey: "site"] = "\(configuration.site)"
        self.logger = logger
    }

    /// The instances this agent runs now.
    public var instances: [InstanceRecord] { table.withLock { $0.values.filter { !$0.removed }.map(\.record).sorted { $0.id < $1.id } } }

    public func run() async throws {
        for adopted in await backend.adopt() {
            launched.withLock { _ = $0.insert(adopted.spec.id) }
            let now = HTTPDate.now()
            var record = InstanceRecord(
                id: adopted.spec.id, site: adopted.spec.site, tenant: adopted.spec.tenant, state: .starting, url: adopted.spec.url,
                adminURL: adopted.spec.adminURL, backend: backend.kind, startedAt: now
            )
            switch adopted.probe {
            case .ready:
                record.state = .ready
                record.readyAt = now
            case .booting:
                break
            case .exited(let how):
                record.state = .stopped
                record.stoppedAt = now
                record.reason = "crashed (\(how))"
            }
            table.withLock { $0[record.id] = Local(spec: adopted.spec, record: record, launchedAt: now, lastActivity: now) }
            logger.notice("adopted an instance", metadata: ["instance.id": "\(record.id)", "state": "\(record.state.rawValue)"])
        }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if self.followsView { group.addTask { await self.view.follow(self.client) } }
                group.addTask {
                    await self.lease.run { lease throws(EtcdError) in
                        let member = MemberRecord(id: self.configuration.id, role: "agent", site: self.configuration.site, since: HTTPDate.now())
                        // Overwriting the key moves it to this lease: a restarted agent takes over at once.
                        try await self.client.put(self.keys.agent(self.configuration.site), value: ClusterRecords.encode(member), lease: lease.id)
                        self.table.withLock { t in for id in t.keys { t[id]?.dirty = true } }
                        await self.report()
                    }
                }
                group.addTask { await self.reconcileLoop() }
                group.addTask { await self.statusLoop() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Stops every instance and leaves the cluster (for `ecdn up`; a standalone agent leaves its
    /// instances running when it stops, for the next agent to adopt).
    public func shutdown(stopInstances: Bool) async {
        if stopInstances {
            let ids = table.withLock { Array($0.keys) }
            for id in ids { await backend.terminate(id, grace: configuration.stopGrace) }
            await backend.terminateAll(grace: 0)
        }
        await lease.revoke()
    }

    // MARK: Reconciling

    private func reconcileLoop() async {
        let changes = view.changes()
        let ticker = ClusterController.ticks(every: .milliseconds(Int64(configuration.statusInterval * 1000)))
        let (rounds, trigger) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in changes { trigger.yield() } }
            group.addTask { for await _ in ticker { trigger.yield() } }
            group.addTask {
                for await _ in rounds { await self.reconcile() }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// One pass: compare the site's placements with what runs here and act on the difference.
    func reconcile() async {
        let (placements, usable) = view.read { s in
            (s.placements[configuration.site] ?? [:], s.synced && s.connected)
        }
        // Acting on a stale view could stop what the leader still wants: wait for etcd.
        guard usable else { return }
        var toLaunch: [InstanceSpec] = []
        var toStop: [String] = []
        var toDrain: [String] = []
        var removed = false
        table.withLock { t in
            for (id, placement) in placements {
                let p = placement.record
                switch p.want {
                case .run:
                    if t[id] == nil, launched.withLock({ $0.insert(id).inserted }) { toLaunch.append(p.spec) }
                case .stop:
                    if let local = t[id], !local.stopping, local.record.state != .stopped {
                        t[id]?.stopping = true
                        t[id]?.record.state = .draining
                        t[id]?.dirty = true
                        toDrain.append(id)
                    }
                }
            }
            for (id, local) in t where placements[id] == nil && !local.removed {
                if local.record.state == .stopped {
                    t[id]?.removed = true
                    removed = true
                } else if !local.stopping {
                    t[id]?.stopping = true
                    toStop.append(id)
                }
            }
        }
        for spec in toLaunch { Task { await self.launch(spec) } }
        for id in toDrain { Task { await self.drainAndStop(id) } }
        for id in toStop {
            Task {
                let how = await self.backend.terminate(id, grace: self.configuration.stopGrace)
                self.logger.notice("stopped an instance no placement wants", metadata: ["instance.id": "\(id)", "exit": "\(how)"])
                self.table.withLock { t in
                    t[id]?.record.state = .stopped
                    t[id]?.removed = true
                }
                await self.report()
            }
        }
        if !toLaunch.isEmpty || !toDrain.isEmpty || removed { await report() }
    }

    private func launch(_ spec: InstanceSpec) async {
        let now = HTTPDate.now()
        let record = InstanceRecord(
            id: spec.id, site: spec.site, tenant: spec.tenant, state: .starting, url: spec.url, adminURL: spec.adminURL,
            backend: backend.kind, startedAt: now
        )
        table.withLock { $0[spec.id] = Local(spec: spec, record: record, launchedAt: now, lastActivity: now) }
        await report()
        // Boot time counts from the launch: a child can be ready before the launch returns.
        let start = HTTPDate.monotonic()
        do {
            try await backend.launch(spec)
        } catch {
            logger.warning("launch failed", metadata: ["instance.id": "\(spec.id)", "error": "\(error)"])
            await markStopped(spec.id, reason: "launch failed: \(error)")
            return
        }
        // A backend that boots slowly (a microVM under TCG) may ask for longer.
        let readyTimeout = max(configuration.readyTimeout, backend.readyTimeout(forSite: spec.site) ?? 0)
        while true {
            switch backend.probe(spec.id) {
            case .ready:
                let boot = HTTPDate.monotonic() - start
                table.withLock { t in
                    guard t[spec.id]?.record.state == .starting else { return }
                    t[spec.id]?.record.state = .ready
                    t[spec.id]?.record.readyAt = HTTPDate.now()
                    t[spec.id]?.record.bootMilliseconds = (boot * 10_000).rounded() / 10
                    t[spec.id]?.lastActivity = HTTPDate.now()
                    t[spec.id]?.dirty = true
                }
                logger.info("instance ready", metadata: ["instance.id": "\(spec.id)", "boot.ms": "\(Int(boot * 1000))"])
                await report()
                return
            case .exited(let how):
                await backend.terminate(spec.id, grace: 0)
                await markStopped(spec.id, reason: "exited before it was ready (\(how))")
                return
            case .booting:
                let elapsed = HTTPDate.monotonic() - start
                if elapsed > readyTimeout {
                    let how = await backend.terminate(spec.id, grace: 1)
                    await markStopped(spec.id, reason: "never became ready within \(readyTimeout) s (\(how))")
                    return
                }
                await backend.pauseWhileStarting(spec.id, elapsed: elapsed)
            }
        }
    }

    private func drainAndStop(_ id: String) async {
        await report()
        guard let spec = table.withLock({ $0[id]?.spec }) else { return }
        let deadline = HTTPDate.monotonic() + configuration.drainTimeout
        while HTTPDate.monotonic() < deadline {
            guard let status = await status(spec.adminURL), status.connections.open > 0 else { break }
            try? await Task.sleep(for: .milliseconds(200))
        }
        let how = await backend.terminate(id, grace: configuration.stopGrace)
        await markStopped(id, reason: "stopped as placed (\(how))")
    }

    private func markStopped(_ id: String, reason: String) async {
        table.withLock { t in
            guard t[id] != nil, t[id]?.record.state != .stopped else { return }
            t[id]?.record.state = .stopped
            t[id]?.record.stoppedAt = HTTPDate.now()
            t[id]?.record.reason = reason
            t[id]?.stopping = true
            t[id]?.dirty = true
        }
        logger.info("instance stopped", metadata: ["instance.id": "\(id)", "reason": "\(reason)"])
        await report()
    }

    // MARK: Status

    private func statusLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(configuration.statusInterval * 1000)))
            await poll()
            await report()
        }
    }

    /// Crash checks and `/admin/status` of every ready instance.
    private func poll() async {
        let running = table.withLock { t in t.values.filter { $0.record.state == .ready || $0.record.state == .draining }.map { ($0.spec.id, $0.spec.adminURL, $0.stopping) } }
        for (id, _, stopping) in running where !stopping {
            if case .exited(let how) = backend.probe(id) {
                await backend.terminate(id, grace: 0)
                await markStopped(id, reason: "crashed (\(how))")
            }
        }
        let results = await withTaskGroup(of: (String, AdminAPI.Status?).self) { group in
            for (id, url, _) in running { group.addTask { (id, await self.status(url)) } }
            var results: [(String, AdminAPI.Status?)] = []
            for await r in group { results.append(r) }
            return results
        }
        var unresponsive: [String] = []
        table.withLock { t in
            for (id, status) in results {
                guard var local = t[id], local.record.state != .stopped else { continue }
                if let status {
                    local.failedPolls = 0
                    if status.requests != local.record.requests { local.lastActivity = HTTPDate.now() }
                    let changed = status.requests != local.record.requests || status.bytesSent != local.record.bytesSent
                        || status.connections.open != local.record.connectionsOpen
                    local.record.requests = status.requests
                    local.record.bytesSent = status.bytesSent
                    local.record.connectionsOpen = max(0, status.connections.open)
                    if changed { local.dirty = true }
                } else {
                    local.failedPolls += 1
                    if local.failedPolls == configuration.failedPollLimit, !local.stopping { unresponsive.append(id) }
                }
                t[id] = local
            }
        }
        for id in unresponsive {
            backend.kill(id)
            await backend.terminate(id, grace: 0)
            await markStopped(id, reason: "unresponsive: no /admin/status answer \(configuration.failedPollLimit) times: killed")
        }
    }

    /// Writes every changed instance's status under the agent's lease and deletes those of
    /// removed instances (one transaction). Writes are serialized: a call while one runs makes
    /// the running one go round again, and returns.
    private func report() async {
        let first = reporting.withLock { r in
            guard !r.running else {
                r.again = true
                return false
            }
            r.running = true
            return true
        }
        guard first else { return }
        while true {
            await writeStatus()
            let more = reporting.withLock { r in
                defer { r.again = false }
                r.running = r.again
                return r.again
            }
            guard more else { return }
        }
    }

    private func writeStatus() async {
        guard let lease = lease.granted else { return }
        let (dirty, removed) = table.withLock { t in
            (t.values.filter { $0.dirty && !$0.removed }.map { ($0.record, $0.lastActivity) }, t.values.filter(\.removed).map(\.record.id))
        }
        guard !dirty.isEmpty || !removed.isEmpty else { return }
        let operations = dirty.map { record, activity in
            EtcdOperation.put(
                key: keys.status(site: configuration.site, id: record.id),
                value: ClusterRecords.encode(StatusRecord(agent: configuration.id, instance: record, lastActivity: activity)), lease: lease.id
            )
        } + removed.map { EtcdOperation.delete(key: keys.status(site: configuration.site, id: $0)) }
        do {
            _ = try await client.transaction(if: [], then: operations)
            table.withLock { t in
                for (record, _) in dirty where t[record.id]?.record == record { t[record.id]?.dirty = false }
                for id in removed where t[id]?.removed == true { t[id] = nil }
            }
        } catch {
            logger.debug("status not reported (will retry)", metadata: ["error": "\(error)"])
        }
    }

    private func status(_ adminURL: String) async -> AdminAPI.Status? {
        guard let base = try? HTTPURL(adminURL) else { return nil }
        return try? await AdminClient(base: base, client: http.client, timeout: http.timeout, token: configuration.adminToken).status()
    }
}
