/// A cache start/stop and viewer-routing policy for one content at one site.
///
/// The simulator (`ecdn simulate`, virtual clock) and the live controller (wall clock) call the
/// same policy: it does no I/O and keeps no clock; `now` is part of every observation. A policy is
/// a value: it holds configuration only, and all state it looks at is passed in.
public protocol CachePolicy: Sendable {
    /// Where a viewer who asks for `observation.content` at `observation.site` goes, and which
    /// instances to start or stop now.
    ///
    /// `observation.viewers` already counts the arriving viewer.
    func route(_ observation: ContentObservation) -> RoutingDecision

    /// Instances to stop after the demand for a content at a site changed (a viewer left, an
    /// instance became ready) or a review time the policy asked for has come.
    func review(_ observation: ContentObservation) -> ScalingDecision
}

/// What a policy sees of one content at one site.
public struct ContentObservation: Sendable, Equatable {
    /// The site (an AS number in the simulator, a micro-datacenter id in the controller).
    public var site: Int
    /// The content (a live channel or a video-on-demand object).
    public var content: Int
    /// Viewers of this content at this site, including one that is being routed.
    public var viewers: Int
    /// The instances serving this content at this site.
    public var instances: [InstanceState]
    /// Instances of any content running or booting at this site.
    public var siteInstances: Int
    /// Current time in seconds (virtual in the simulator, wall clock in the controller).
    public var now: Double

    public init(site: Int, content: Int, viewers: Int, instances: [InstanceState], siteInstances: Int, now: Double) {
        self.site = site
        self.content = content
        self.viewers = viewers
        self.instances = instances
        self.siteInstances = siteInstances
        self.now = now
    }
}

/// The state of one cache instance as a policy sees it.
public struct InstanceState: Sendable, Equatable {
    /// Where an instance is in its life.
    public enum Phase: Sendable, Equatable {
        /// Started, ready to serve at `readyAt`.
        case booting(readyAt: Double)
        /// Serving.
        case ready
    }

    /// Identifier chosen by the caller; decisions refer to it.
    public var id: Int
    public var phase: Phase
    /// Viewers connected to (or waiting for) this instance.
    public var connections: Int
    /// When the last viewer left, if none is connected.
    public var idleSince: Double?

    public init(id: Int, phase: Phase, connections: Int, idleSince: Double?) {
        self.id = id
        self.phase = phase
        self.connections = connections
        self.idleSince = idleSince
    }
}

/// Where to send one viewer.
public enum Route: Sendable, Equatable {
    /// To a ready instance.
    case cache(instance: Int)
    /// To an instance that is still booting: the viewer waits until it is ready.
    case waitForBoot(instance: Int)
    /// To a new instance the same decision starts (see ``RoutingDecision/start``): the viewer
    /// waits for it.
    case waitForNewInstance
    /// To the origin while the instance boots, then to the instance.
    case bypass(instance: Int)
    /// To the origin while the new instance the same decision starts boots, then to it.
    case bypassToNewInstance
    /// To the origin.
    case origin
}

/// A routing decision, with the instance to start if any.
public struct RoutingDecision: Sendable, Equatable {
    public var route: Route
    /// Start one new instance for this content at this site.
    public var start: Bool

    public init(route: Route, start: Bool = false) {
        self.route = route
        self.start = start
    }
}

/// Instances to stop, and when to look again.
public struct ScalingDecision: Sendable, Equatable {
    /// Instances to stop now.
    public var stop: [Int]
    /// Call ``CachePolicy/review(_:)`` again at this time even if nothing changes.
    public var reviewAt: Double?

    public init(stop: [Int] = [], reviewAt: Double? = nil) {
        self.stop = stop
        self.reviewAt = reviewAt
    }

    /// Nothing to do.
    public static let none = ScalingDecision()
}
