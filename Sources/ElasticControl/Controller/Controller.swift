import ElasticPolicy
import Foundation
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Where the router sends a viewer.
public enum RouteTarget: Sendable, Equatable {
    /// A ready cache: its URL and instance id.
    case cache(url: String, instance: String)
    /// The tenant's origin, and why.
    case origin(url: String, reason: String)
}

/// The live controller: starts caches where viewers are (asking the same ``CachePolicy`` the
/// simulator runs), replaces crashed ones, drains and stops idle ones, and answers the router.
///
/// Every tick it polls each instance's `/admin/status`, feeds demand and instance state to the
/// policy and acts on its decisions; a router request that needs a cache starts one at once.
public final class Controller: Service, Sendable {
    public let configuration: ControllerConfiguration
    public let sites: [SiteConfiguration]
    public let tenants: [TenantConfiguration]
    public let backend: any SiteBackend
    public let store: any StateStore
    private let policy: any CachePolicy
    private let logger: Logger
    private let client: HTTPClient
    private let state = Mutex(ControllerState())
    /// This controller's name in the store's `controller` lease.
    public let holder = "controller-\(UInt64.random(in: 0...UInt64.max))"
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>

    /// - Throws: ``ControlError`` `badConfiguration` for duplicate or missing sites and tenants.
    public init(
        configuration: ControllerConfiguration = ControllerConfiguration(),
        sites: [SiteConfiguration],
        tenants: [TenantConfiguration],
        backend: any SiteBackend,
        store: any StateStore = InMemoryStateStore(),
        group: any EventLoopGroup,
        logger: Logger
    ) throws(ControlError) {
        guard !sites.isEmpty, !tenants.isEmpty else {
            throw ControlError(.badConfiguration, "the controller needs at least one site and one tenant")
        }
        guard Set(sites.map(\.name)).count == sites.count, Set(tenants.map(\.name)).count == tenants.count else {
            throw ControlError(.badConfiguration, "site and tenant names must be unique")
        }
        for site in sites where site.instanceAddress(slot: 0) == nil {
            throw ControlError(.badConfiguration, "site \(site.name): instance base '\(site.instanceBase)' is not an IPv4 address")
        }
        for tenant in tenants {
            do { _ = try HTTPURL(tenant.origin, schemes: [.http, .https]) } catch {
                throw ControlError(.badConfiguration, "tenant \(tenant.name): origin: \(error)")
            }
        }
        self.configuration = configuration
        self.sites = sites
        self.tenants = tenants
        self.backend = backend
        self.store = store
        self.policy = configuration.effectivePolicy
        self.logger = logger
        self.client = HTTPClient(
            group: group, connectTimeout: .milliseconds(Int64(configuration.statusTimeout * 1000)),
            timeout: .milliseconds(Int64(configuration.statusTimeout * 1000))
        )
        (self.wakeups, self.wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Running

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.tickLoop() }
            group.addTask { await self.crashLoop() }
            if configuration.mode == .fixed { self.ensureFixedInstances() }
            await withGracefulShutdownHandler {
                await group.next()
            } onGracefulShutdown: {
                self.wake.finish()
            }
            group.cancelAll()
        }
        await shutdownInstances()
    }

    private func tickLoop() async {
        let ticks = AsyncStream<Void> { continuation in
            let task = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int64(configuration.tick * 1000)))
                    continuation.yield()
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in ticks { await self.tick() }
            }
            group.addTask {
                for await _ in self.wakeups { await self.tick() }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func crashLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(configuration.crashCheckInterval * 1000)))
            checkForCrashes()
        }
    }

    /// Stops every instance (graceful, then forced) and records them as stopped.
    private func shutdownInstances() async {
        let numbers = state.withLock { s in
            s.instances.values.filter { $0.record.state != .stopped }.map(\.number)
        }
        state.withLock { s in
            for n in numbers { s.instances[n]?.terminating = true }
        }
        await withTaskGroup(of: Void.self) { group in
            for n in numbers {
                group.addTask {
                    guard let id = self.state.withLock({ $0.instances[n]?.spec.id }) else { return }
                    let how = await self.backend.terminate(id, grace: self.configuration.stopGrace)
                    await self.markStopped(n, reason: "shutdown (\(how))", kind: "stop")
                }
            }
        }
        await backend.terminateAll(grace: 0)
    }

    // MARK: Routing (called by the router for every viewer)

    /// Decides where a viewer of `tenant` at `site` goes; may start a cache and hold the viewer
    /// until it is ready (up to ``ControllerConfiguration/routerWait``).
    /// - Parameter content: what the viewer asked for, for the demand counters (e.g. `/live/1`).
    public func route(site: String, tenant: String, client: String, content: String = "") async -> RouteTarget {
        guard let tenantConfig = tenants.first(where: { $0.name == tenant }) else {
            return .origin(url: tenants[0].origin, reason: "unknown tenant")
        }
        guard let siteIndex = sites.firstIndex(where: { $0.name == site }) else {
            return .origin(url: tenantConfig.origin, reason: "client outside every site")
        }
        let now = HTTPDate.monotonic()
        let key = DesiredKey(site: site, tenant: tenant)
        enum Step { case done(RouteTarget, launch: Int?), wait(Int, launch: Bool) }
        let step: Step = state.withLock { s in
            s.arrivals[key, default: []].append((now, client))
            s.contentRequests[key, default: [:]][content, default: 0] += 1
            s.counters[site, default: SiteCounters()].requests += 1
            let observation = self.observation(s, siteIndex: siteIndex, tenant: tenant, now: now)
            var decision = policy.route(observation)
            var launched: Int?
            if decision.start {
                if let n = self.allocate(&s, site: sites[siteIndex], tenant: tenantConfig, now: now) {
                    launched = n
                } else {
                    decision = RoutingDecision(route: .origin)
                }
            }
            switch decision.route {
            case .cache(let n):
                guard let instance = s.instances[n] else { return .done(.origin(url: tenantConfig.origin, reason: "no instance"), launch: launched) }
                s.instances[n]?.routed.append(now)
                s.instances[n]?.record.viewers = instance.routed.count + 1
                s.counters[site, default: SiteCounters()].toCache += 1
                return .done(.cache(url: instance.spec.url, instance: instance.spec.id), launch: launched)
            case .waitForBoot(let n):
                return .wait(n, launch: false)
            case .waitForNewInstance:
                guard let launched else { return .done(.origin(url: tenantConfig.origin, reason: "site full"), launch: nil) }
                return .wait(launched, launch: true)
            case .bypass, .bypassToNewInstance:
                // An HLS viewer redirected to the origin stays there; later viewers get the cache.
                s.counters[site, default: SiteCounters()].toOrigin += 1
                return .done(.origin(url: tenantConfig.origin, reason: "cache booting"), launch: launched)
            case .origin:
                s.counters[site, default: SiteCounters()].toOrigin += 1
                if launched != nil { return .done(.origin(url: tenantConfig.origin, reason: "cache booting"), launch: launched) }
                let full = !decision.start && observation.viewers >= configuration.threshold
                return .done(.origin(url: tenantConfig.origin, reason: full ? "no cache available" : "below threshold"), launch: nil)
            }
        }
        switch step {
        case .done(let target, let launch):
            if let launch {
                Task { await self.launch(launch) }
                wakeUp()
            }
            return target
        case .wait(let n, let launch):
            if launch {
                Task { await self.launch(n) }
                // A demand event: the next tick publishes the new desired count at once.
                wakeUp()
            }
            let waitsForBoot = configuration.routerWait > 0
            let ready = waitsForBoot ? await waitUntilReady(n, timeout: configuration.routerWait) : false
            return state.withLock { s in
                if ready, let instance = s.instances[n], instance.record.state == .ready {
                    s.instances[n]?.routed.append(HTTPDate.monotonic())
                    s.instances[n]?.record.viewers = instance.routed.count + 1
                    s.counters[site, default: SiteCounters()].toCache += 1
                    s.counters[site, default: SiteCounters()].waited += 1
                    return .cache(url: instance.spec.url, instance: instance.spec.id)
                }
                s.counters[site, default: SiteCounters()].toOrigin += 1
                return .origin(url: tenantConfig.origin, reason: waitsForBoot ? "cache not ready in time" : "cache booting")
            }
        }
    }

    /// The policy's view of one tenant at one site.
    private func observation(_ s: ControllerState, siteIndex: Int, tenant: String, now: Double) -> ContentObservation {
        let site = sites[siteIndex].name
        let key = DesiredKey(site: site, tenant: tenant)
        let lease = now - configuration.viewerLease
        var states: [InstanceState] = []
        var total = 0
        for instance in s.instances.values where instance.spec.site == site && instance.isActive {
            total += 1
            guard instance.spec.tenant == tenant else { continue }
            let routed = instance.routed.filter { $0 >= lease }.count
            let recentlyActive = now - instance.lastActivity < max(3 * configuration.tick, 2)
            let connections = max(routed, instance.record.connectionsOpen, recentlyActive && instance.record.state == .ready ? 1 : 0)
            let phase: InstanceState.Phase =
                instance.record.state == .ready ? .ready : .booting(readyAt: instance.launchedAt + configuration.readyTimeout)
            states.append(InstanceState(
                id: instance.number, phase: phase, connections: connections,
                idleSince: connections == 0 ? instance.lastActivity : nil
            ))
        }
        let tenantIndex = tenants.firstIndex { $0.name == tenant } ?? 0
        let viewers = max(s.viewers(key, since: lease), states.reduce(0) { $0 + $1.connections })
        return ContentObservation(site: siteIndex, content: tenantIndex, viewers: viewers, instances: states, siteInstances: total, now: now)
    }

    /// Reserves a new instance if the site and the tenant's quota have room.
    private func allocate(_ s: inout ControllerState, site: SiteConfiguration, tenant: TenantConfiguration, now: Double) -> Int? {
        let active = s.instances.values.filter { $0.spec.site == site.name && $0.isActive }
        guard active.count < site.maxInstances, active.filter({ $0.spec.tenant == tenant.name }).count < tenant.quotaPerSite else {
            return nil
        }
        let used = s.occupiedSlots(site: site.name)
        guard let slot = (0..<site.instanceSlots).first(where: { !used.contains($0) }),
              let address = site.instanceAddress(slot: slot) else { return nil }
        let n = s.nextNumber
        s.nextNumber += 1
        let id = "\(site.name)-\(tenant.name)-\(n)"
        let spec = InstanceSpec(
            id: id, site: site.name, tenant: tenant.name, address: address,
            port: configuration.instancePort, adminPort: configuration.adminPort, origin: tenant.origin,
            tls: configuration.instanceTLS
        )
        let record = InstanceRecord(
            id: id, site: site.name, tenant: tenant.name, state: .starting, url: spec.url, adminURL: spec.adminURL,
            backend: backend.kind(forSite: site.name), startedAt: HTTPDate.now()
        )
        var instance = LiveInstance(number: n, slot: slot, spec: spec, record: record, launchedAt: now, lastActivity: now)
        instance.routed = []
        s.instances[n] = instance
        s.event("start", instance, "starting at \(address) for \(tenant.name)", now: HTTPDate.now())
        return n
    }

    // MARK: Instance life

    private func launch(_ n: Int) async {
        guard let spec = state.withLock({ $0.instances[n]?.spec }) else { return }
        await put(n)
        // Boot time and the ready timeout count from the launch: a child can be ready before the
        // launch returns (its spawn is slow on a busy host).
        let start = HTTPDate.monotonic()
        do {
            try await backend.launch(spec)
        } catch {
            logger.warning("launch failed", metadata: ["instance.id": "\(spec.id)", "error": "\(error)"])
            await markStopped(n, reason: "launch failed: \(error)", kind: "launch-failed")
            return
        }
        let readyTimeout = max(configuration.readyTimeout, backend.readyTimeout(forSite: spec.site) ?? 0)
        while true {
            switch backend.probe(spec.id) {
            case .ready:
                await markReady(n, bootSeconds: HTTPDate.monotonic() - start, note: backend.note(of: spec.id))
                return
            case .exited(let how):
                await backend.terminate(spec.id, grace: 0)
                await markStopped(n, reason: "exited before it was ready (\(how)); see its log", kind: "not-ready")
                return
            case .booting:
                let elapsed = HTTPDate.monotonic() - start
                if elapsed > readyTimeout {
                    state.withLock { $0.instances[n]?.terminating = true }
                    let how = await backend.terminate(spec.id, grace: 1)
                    await markStopped(n, reason: "never became ready within \(readyTimeout) s (\(how))", kind: "not-ready")
                    return
                }
                await backend.pauseWhileStarting(spec.id, elapsed: elapsed)
            }
        }
    }

    /// - Parameter note: what the backend says about how it runs (a microVM under TCG, and why).
    private func markReady(_ n: Int, bootSeconds: Double, note: String?) async {
        let waiters: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            guard var instance = s.instances[n], instance.record.state == .starting else { return [] }
            instance.record.state = .ready
            instance.record.reason = note
            instance.record.readyAt = HTTPDate.now()
            instance.record.bootMilliseconds = (bootSeconds * 1000 * 10).rounded() / 10
            instance.lastActivity = HTTPDate.monotonic()
            let waiting = Array(instance.waiters.values)
            instance.waiters = [:]
            s.instances[n] = instance
            s.event("ready", instance, "ready after \(instance.record.bootMilliseconds ?? 0) ms\(note.map { " (\($0))" } ?? "")", now: HTTPDate.now())
            return waiting
        }
        for waiter in waiters { waiter.resume(returning: true) }
        logger.info("instance ready", metadata: ["instance.id": "\(state.withLock { $0.instances[n]?.spec.id ?? "" })", "boot.ms": "\(Int(bootSeconds * 1000))"])
        await put(n)
    }

    private func markStopped(_ n: Int, reason: String, kind: String) async {
        let waiters: [CheckedContinuation<Bool, Never>] = state.withLock { s in
            guard var instance = s.instances[n], instance.record.state != .stopped || instance.terminating else { return [] }
            let wasStopped = instance.record.state == .stopped
            instance.record.state = .stopped
            instance.terminating = false
            if !wasStopped {
                instance.record.stoppedAt = HTTPDate.now()
                instance.record.reason = reason
                s.event(kind, instance, reason, now: HTTPDate.now())
            }
            let waiting = Array(instance.waiters.values)
            instance.waiters = [:]
            s.instances[n] = instance
            return waiting
        }
        for waiter in waiters { waiter.resume(returning: false) }
        logger.info("instance stopped", metadata: ["instance.number": "\(n)", "reason": "\(reason)"])
        await put(n)
        // Stopped instances stay in the store (for the API) but leave the controller's table.
        state.withLock { s in
            if s.instances[n]?.record.state == .stopped, s.instances[n]?.terminating == false { s.instances[n] = nil }
        }
    }

    private func waitUntilReady(_ n: Int, timeout: Double) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let token: Int? = state.withLock { s in
                guard let instance = s.instances[n], instance.record.state == .starting else { return nil }
                let token = s.nextWaiter
                s.nextWaiter += 1
                s.instances[n]?.waiters[token] = continuation
                return token
            }
            guard let token else {
                continuation.resume(returning: state.withLock { $0.instances[n]?.record.state == .ready })
                return
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                let waiter = self.state.withLock { $0.instances[n]?.waiters.removeValue(forKey: token) }
                waiter?.resume(returning: false)
            }
        }
    }

    /// Instances whose process ended without being asked to: out of the router's table at once,
    /// replaced if their site still has viewers.
    private func checkForCrashes() {
        let running = state.withLock { s in
            s.instances.values.filter { ($0.record.state == .ready || $0.record.state == .draining) && !$0.terminating }
                .map { ($0.number, $0.spec.id) }
        }
        for (n, id) in running {
            guard case .exited(let how) = backend.probe(id) else { continue }
            let replacement: Int? = state.withLock { s in
                guard var instance = s.instances[n], !instance.terminating else { return nil }
                let wasReady = instance.record.state == .ready
                instance.record.state = .stopped
                instance.record.stoppedAt = HTTPDate.now()
                instance.record.reason = "crashed (\(how))"
                instance.terminating = true
                s.instances[n] = instance
                s.event("crash", instance, "crashed (\(how))", now: HTTPDate.now())
                guard wasReady, configuration.mode == .fixed || HTTPDate.monotonic() - instance.lastActivity < configuration.idleTimeout,
                      let site = sites.first(where: { $0.name == instance.spec.site }),
                      let tenant = tenants.first(where: { $0.name == instance.spec.tenant }) else { return nil }
                let replacement = allocate(&s, site: site, tenant: tenant, now: HTTPDate.monotonic())
                if let replacement, let r = s.instances[replacement] {
                    s.event("replace", r, "replaces \(instance.spec.id)", now: HTTPDate.now())
                }
                return replacement
            }
            logger.warning("instance crashed", metadata: ["instance.id": "\(id)", "exit": "\(how)"])
            Task {
                await self.backend.terminate(id, grace: 0)
                await self.markStopped(n, reason: "crashed (\(how))", kind: "crash")
            }
            if let replacement { Task { await self.launch(replacement) } }
        }
    }

    // MARK: Ticks

    /// Polls instance status, asks the policy what to stop, and starts fixed instances — while
    /// this controller holds the store's `controller` lease (with a shared store, one controller
    /// acts and the others stand by).
    func tick() async {
        let leader = (try? await store.acquireLease("controller", holder: holder, ttl: max(3 * configuration.tick, 3), now: HTTPDate.now())) ?? false
        guard leader else {
            logger.debug("standing by: another controller holds the lease")
            return
        }
        let polled = state.withLock { s in
            s.instances.values.filter { $0.record.state == .ready && !$0.terminating }.map { ($0.number, $0.spec.adminURL) }
        }
        let results = await withTaskGroup(of: (Int, AdminAPI.Status?).self) { group in
            for (n, adminURL) in polled {
                group.addTask { (n, await self.status(adminURL)) }
            }
            var results: [(Int, AdminAPI.Status?)] = []
            for await result in group { results.append(result) }
            return results
        }
        let now = HTTPDate.monotonic()
        var unresponsive: [String] = []
        state.withLock { s in
            for (n, status) in results {
                guard var instance = s.instances[n] else { continue }
                if let status {
                    instance.failedPolls = 0
                    if status.requests != instance.lastRequests { instance.lastActivity = now }
                    instance.lastRequests = status.requests
                    instance.record.requests = status.requests
                    instance.record.bytesSent = status.bytesSent
                    instance.record.connectionsOpen = max(0, status.connections.open)
                } else {
                    instance.failedPolls += 1
                    if instance.failedPolls == configuration.failedPollLimit {
                        unresponsive.append(instance.spec.id)
                        s.event("unresponsive", instance, "no /admin/status answer \(configuration.failedPollLimit) times: killed", now: HTTPDate.now())
                    }
                }
                instance.routed.removeAll { $0 < now - configuration.viewerLease }
                instance.record.viewers = instance.routed.count
                s.instances[n] = instance
            }
            for key in s.arrivals.keys {
                s.arrivals[key]?.removeAll { $0.time < now - max(configuration.viewerLease, configuration.idleTimeout) }
            }
        }
        for id in unresponsive { backend.kill(id) }
        if configuration.mode == .fixed { ensureFixedInstances() }
        await review(now: now)
        for n in state.withLock({ Array($0.instances.keys) }) { await put(n) }
        await publishDesired()
    }

    private func review(now: Double) async {
        var toDrain: [Int] = []
        state.withLock { s in
            for (siteIndex, site) in sites.enumerated() {
                for tenant in tenants where s.instances.values.contains(where: { $0.spec.site == site.name && $0.spec.tenant == tenant.name && $0.record.state == .ready }) {
                    let observation = observation(s, siteIndex: siteIndex, tenant: tenant.name, now: now)
                    let decision = policy.review(observation)
                    for n in decision.stop where s.instances[n]?.record.state == .ready {
                        s.instances[n]?.record.state = .draining
                        if let instance = s.instances[n] {
                            s.event("drain", instance, "idle for \(Int(now - instance.lastActivity)) s: draining", now: HTTPDate.now())
                        }
                        toDrain.append(n)
                    }
                }
            }
        }
        for n in toDrain { Task { await self.drainAndStop(n) } }
    }

    /// No new viewers are sent to a draining instance; it stops once its connections closed.
    private func drainAndStop(_ n: Int) async {
        await put(n)
        guard let spec = state.withLock({ $0.instances[n]?.spec }) else { return }
        let deadline = HTTPDate.monotonic() + configuration.drainTimeout
        while HTTPDate.monotonic() < deadline {
            guard let status = await status(spec.adminURL) else { break }
            if status.connections.open == 0 { break }
            try? await Task.sleep(for: .milliseconds(200))
        }
        state.withLock { $0.instances[n]?.terminating = true }
        let how = await backend.terminate(spec.id, grace: configuration.stopGrace)
        await markStopped(n, reason: "idle for \(Int(configuration.idleTimeout)) s (\(how))", kind: "stop")
    }

    private func ensureFixedInstances() {
        let launches: [Int] = state.withLock { s in
            var launches: [Int] = []
            for site in sites {
                for tenant in tenants where !s.instances.values.contains(where: { $0.spec.site == site.name && $0.spec.tenant == tenant.name && $0.isActive }) {
                    if let n = allocate(&s, site: site, tenant: tenant, now: HTTPDate.monotonic()) { launches.append(n) }
                }
            }
            return launches
        }
        for n in launches { Task { await self.launch(n) } }
    }

    private func status(_ adminURL: String) async -> AdminAPI.Status? {
        guard let base = try? HTTPURL(adminURL) else { return nil }
        return try? await AdminClient(base: base, client: client.client, timeout: client.timeout).status()
    }

    private func put(_ n: Int) async {
        guard let record = state.withLock({ $0.instances[n]?.record }) else { return }
        try? await store.put(record)
    }

    private func publishDesired() async {
        let counts: [DesiredKey: Int] = state.withLock { s in
            var counts: [DesiredKey: Int] = [:]
            for site in sites {
                for tenant in tenants { counts[DesiredKey(site: site.name, tenant: tenant.name)] = 0 }
            }
            for instance in s.instances.values where instance.isActive {
                counts[DesiredKey(site: instance.spec.site, tenant: instance.spec.tenant), default: 0] += 1
            }
            return counts
        }
        for (key, count) in counts { try? await store.setDesired(key, count: count) }
    }

    // MARK: Reading (API)

    /// Recent events, oldest first.
    public func events() -> [ControlEvent] { state.withLock { $0.events } }

    /// Routing counters per site.
    public func counters() -> [String: SiteCounters] { state.withLock { $0.counters } }

    /// Router requests since start per site and tenant, by content.
    public func contentRequests() -> [DesiredKey: [String: Int]] { state.withLock { $0.contentRequests } }

    /// Viewers the router saw recently, per site and tenant.
    public func demand() -> [DesiredKey: Int] {
        let now = HTTPDate.monotonic()
        return state.withLock { s in
            var result: [DesiredKey: Int] = [:]
            for key in s.arrivals.keys { result[key] = s.viewers(key, since: now - configuration.viewerLease) }
            return result
        }
    }

    /// Instances the controller is running now (not the stopped ones).
    public func liveInstances() -> [InstanceRecord] {
        state.withLock { s in s.instances.values.sorted { $0.number < $1.number }.map(\.record) }
    }

    /// Asks for a tick now (after a change the router saw).
    public func wakeUp() { wake.yield() }
}
