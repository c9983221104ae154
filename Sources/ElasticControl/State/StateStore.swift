/// Where the control plane keeps desired and actual instances, with leases (one active
/// controller) and watches. In memory for one machine (``InMemoryStateStore``); the protocol is
/// what a distributed store (etcd and the like) implements.
public protocol StateStore: Sendable {
    /// Creates or replaces an instance record.
    func put(_ record: InstanceRecord) async throws(ControlError)
    /// Forgets an instance.
    func remove(id: String) async throws(ControlError)
    /// All instance records.
    func instances() async throws(ControlError) -> [InstanceRecord]
    /// Sets how many instances a tenant wants at a site.
    func setDesired(_ key: DesiredKey, count: Int) async throws(ControlError)
    /// Desired counts.
    func desired() async throws(ControlError) -> [DesiredKey: Int]
    /// Takes or renews the lease `name` for `holder` until `now + ttl`; false if another holder
    /// has it and it has not expired.
    func acquireLease(_ name: String, holder: String, ttl: Double, now: Double) async throws(ControlError) -> Bool
    /// Changes from now on, until the stream is dropped.
    func watch() async -> AsyncStream<StoreEvent>
}

/// The default store: everything in memory, for one machine.
public actor InMemoryStateStore: StateStore {
    private var records: [String: InstanceRecord] = [:]
    private var order: [String] = []
    private var desiredCounts: [DesiredKey: Int] = [:]
    private var leases: [String: (holder: String, expires: Double)] = [:]
    private var watchers: [Int: AsyncStream<StoreEvent>.Continuation] = [:]
    private var nextWatcher = 0
    /// Stopped records kept for the API; older ones are forgotten.
    public let stoppedRetention: Int

    public init(stoppedRetention: Int = 50) {
        self.stoppedRetention = stoppedRetention
    }

    public func put(_ record: InstanceRecord) {
        if records.updateValue(record, forKey: record.id) == nil { order.append(record.id) }
        notify(.instance(record))
        let stopped = order.filter { records[$0]?.state == .stopped }
        if stopped.count > stoppedRetention {
            for id in stopped.prefix(stopped.count - stoppedRetention) { remove(id: id) }
        }
    }

    public func remove(id: String) {
        guard records.removeValue(forKey: id) != nil else { return }
        order.removeAll { $0 == id }
        notify(.removed(id: id))
    }

    public func instances() -> [InstanceRecord] { order.compactMap { records[$0] } }

    public func setDesired(_ key: DesiredKey, count: Int) {
        guard desiredCounts[key] != count else { return }
        desiredCounts[key] = count
        notify(.desired(key, count))
    }

    public func desired() -> [DesiredKey: Int] { desiredCounts }

    public func acquireLease(_ name: String, holder: String, ttl: Double, now: Double) -> Bool {
        if let lease = leases[name], lease.holder != holder, lease.expires > now { return false }
        leases[name] = (holder, now + ttl)
        return true
    }

    public func watch() -> AsyncStream<StoreEvent> {
        let (stream, continuation) = AsyncStream<StoreEvent>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = nextWatcher
        nextWatcher += 1
        watchers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.dropWatcher(id) }
        }
        return stream
    }

    private func dropWatcher(_ id: Int) { watchers[id] = nil }

    private func notify(_ event: StoreEvent) {
        for continuation in watchers.values { continuation.yield(event) }
    }
}
