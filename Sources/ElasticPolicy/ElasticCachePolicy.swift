/// On-demand caches: an instance for a content starts at a site when that content's viewers
/// there reach a threshold, and stops after it has been idle for a while.
///
/// While an instance boots, viewers either wait for it or go to the origin, depending on
/// ``waitForBoot``. Instances have a connection limit; a site has an instance limit; demand
/// beyond both goes to the origin.
public struct ElasticCachePolicy: CachePolicy {
    /// Viewers of a content at a site needed to start an instance (default 1).
    public var threshold: Int
    /// Time from start to ready, in seconds (default 0.1).
    public var bootTime: Double
    /// How long an instance stays up after its last viewer left, in seconds (default 0: stop
    /// when the last viewer leaves).
    public var idleTimeout: Double
    /// Viewers wait for a booting instance (`true`, default) or go to the origin meanwhile.
    public var waitForBoot: Bool
    /// Connections one instance serves (default: unlimited).
    public var maxConnectionsPerInstance: Int
    /// Instances of all contents a site can run (default: unlimited).
    public var maxInstancesPerSite: Int

    public init(
        threshold: Int = 1,
        bootTime: Double = 0.1,
        idleTimeout: Double = 0,
        waitForBoot: Bool = true,
        maxConnectionsPerInstance: Int = .max,
        maxInstancesPerSite: Int = .max
    ) {
        self.threshold = threshold
        self.bootTime = bootTime
        self.idleTimeout = idleTimeout
        self.waitForBoot = waitForBoot
        self.maxConnectionsPerInstance = maxConnectionsPerInstance
        self.maxInstancesPerSite = maxInstancesPerSite
    }

    public func route(_ observation: ContentObservation) -> RoutingDecision {
        // Prefer the least loaded ready instance with room, then a booting one.
        var bestReady: InstanceState?
        var bestBooting: InstanceState?
        for instance in observation.instances where instance.connections < maxConnectionsPerInstance {
            switch instance.phase {
            case .ready:
                if bestReady.map({ instance.connections < $0.connections }) ?? true { bestReady = instance }
            case .booting:
                if bestBooting.map({ instance.connections < $0.connections }) ?? true { bestBooting = instance }
            }
        }
        if let bestReady { return RoutingDecision(route: .cache(instance: bestReady.id)) }
        if let bestBooting {
            return RoutingDecision(route: waitForBoot ? .waitForBoot(instance: bestBooting.id) : .bypass(instance: bestBooting.id))
        }
        guard observation.viewers >= threshold, observation.siteInstances < maxInstancesPerSite else {
            return RoutingDecision(route: .origin)
        }
        return RoutingDecision(route: waitForBoot ? .waitForNewInstance : .bypassToNewInstance, start: true)
    }

    public func review(_ observation: ContentObservation) -> ScalingDecision {
        var stop: [Int] = []
        var reviewAt: Double?
        for instance in observation.instances {
            guard instance.connections == 0, let idleSince = instance.idleSince else { continue }
            let due = idleSince + idleTimeout
            if due <= observation.now {
                stop.append(instance.id)
            } else {
                reviewAt = min(reviewAt ?? due, due)
            }
        }
        return ScalingDecision(stop: stop, reviewAt: reviewAt)
    }
}
