/// The life of an instance as the API reports it.
public enum InstanceLifecycle: String, Sendable, Codable, Equatable {
    case starting, ready, draining, stopped
}

/// One instance as the store keeps it (the "actual" side of desired vs actual).
public struct InstanceRecord: Sendable, Codable, Equatable {
    public var id: String
    public var site: String
    public var tenant: String
    public var state: InstanceLifecycle
    /// Data-plane URL, `http://address:port`.
    public var url: String
    /// Admin URL (`/admin/status`).
    public var adminURL: String
    public var backend: String
    /// Wall-clock seconds since 1970.
    public var startedAt: Double
    public var readyAt: Double?
    public var stoppedAt: Double?
    /// Milliseconds from launch to ready.
    public var bootMilliseconds: Double?
    /// Why it stopped (idle, crashed, never ready, shutdown), if it did.
    public var reason: String?
    /// From `/admin/status`: requests served, body bytes sent, connections open.
    public var requests: Int
    public var bytesSent: Int
    public var connectionsOpen: Int
    /// Viewers the router sent here recently.
    public var viewers: Int

    public init(
        id: String, site: String, tenant: String, state: InstanceLifecycle, url: String, adminURL: String, backend: String,
        startedAt: Double, readyAt: Double? = nil, stoppedAt: Double? = nil, bootMilliseconds: Double? = nil, reason: String? = nil,
        requests: Int = 0, bytesSent: Int = 0, connectionsOpen: Int = 0, viewers: Int = 0
    ) {
        self.id = id
        self.site = site
        self.tenant = tenant
        self.state = state
        self.url = url
        self.adminURL = adminURL
        self.backend = backend
        self.startedAt = startedAt
        self.readyAt = readyAt
        self.stoppedAt = stoppedAt
        self.bootMilliseconds = bootMilliseconds
        self.reason = reason
        self.requests = requests
        self.bytesSent = bytesSent
        self.connectionsOpen = connectionsOpen
        self.viewers = viewers
    }
}

/// Instances wanted for one tenant at one site (the "desired" side).
public struct DesiredKey: Sendable, Hashable, Codable {
    public var site: String
    public var tenant: String

    public init(site: String, tenant: String) {
        self.site = site
        self.tenant = tenant
    }
}

/// A change a watcher sees.
public enum StoreEvent: Sendable, Equatable {
    case instance(InstanceRecord)
    case removed(id: String)
    case desired(DesiredKey, Int)
}
