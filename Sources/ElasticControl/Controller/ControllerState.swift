import ElasticPolicy

/// One instance as the controller tracks it.
struct LiveInstance {
    var number: Int
    var slot: Int
    var spec: InstanceSpec
    var record: InstanceRecord
    /// Monotonic times.
    var launchedAt: Double
    var lastActivity: Double
    var lastRequests = 0
    var routed: [Double] = []
    var failedPolls = 0
    /// Set once the controller itself is stopping the process, so its exit is no crash.
    var terminating = false
    var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]

    var isActive: Bool { record.state == .starting || record.state == .ready }
}

/// Everything the controller knows, behind one lock; the router reads it on every request.
struct ControllerState {
    var instances: [Int: LiveInstance] = [:]
    /// Arrivals per tenant at a site: monotonic time and client address.
    var arrivals: [DesiredKey: [(time: Double, client: String)]] = [:]
    var counters: [String: SiteCounters] = [:]
    /// Router requests per site and tenant by content (`/live/1`, `/vod/movie1.mp4`).
    var contentRequests: [DesiredKey: [String: Int]] = [:]
    var events: [ControlEvent] = []
    var nextNumber = 1
    var nextWaiter = 0

    mutating func event(_ kind: String, _ instance: LiveInstance?, site: String = "", tenant: String = "", _ message: String, now: Double) {
        let e = ControlEvent(
            time: now, kind: kind, site: instance?.spec.site ?? site, tenant: instance?.spec.tenant ?? tenant,
            instance: instance?.spec.id ?? "", message: message
        )
        events.append(e)
        if events.count > 500 { events.removeFirst(events.count - 500) }
    }

    func viewers(_ key: DesiredKey, since: Double) -> Int {
        Set(arrivals[key, default: []].lazy.filter { $0.time >= since }.map(\.client)).count
    }

    /// Instances at a site that hold an address (anything not fully stopped).
    func occupiedSlots(site: String) -> Set<Int> {
        Set(instances.values.filter { $0.spec.site == site && ($0.record.state != .stopped || $0.terminating) }.map(\.slot))
    }
}
