/// Something the controller did or saw, for the API's event list and the logs.
public struct ControlEvent: Sendable, Codable, Equatable {
    /// Wall-clock seconds since 1970.
    public var time: Double
    /// `start`, `ready`, `drain`, `stop`, `crash`, `replace`, `not-ready`, `launch-failed`, `unresponsive`.
    public var kind: String
    public var site: String
    public var tenant: String
    public var instance: String
    public var message: String
}

/// Per-site routing counters since start.
public struct SiteCounters: Sendable, Codable, Equatable {
    public var requests = 0
    public var toCache = 0
    public var toOrigin = 0
    /// Viewers held while a cache booted.
    public var waited = 0

    public init() {}
}
