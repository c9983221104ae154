/// Caches that are always there: a site either has a permanent instance that serves every
/// content, or has none and sends viewers to the origin. Also stands for "no caches" with an
/// empty set of sites.
public struct StaticCachePolicy: CachePolicy {
    /// Connections the permanent instance serves (default: unlimited); more go to the origin.
    public var maxConnections: Int

    public init(maxConnections: Int = .max) {
        self.maxConnections = maxConnections
    }

    public func route(_ observation: ContentObservation) -> RoutingDecision {
        for instance in observation.instances where instance.phase == .ready && instance.connections < maxConnections {
            return RoutingDecision(route: .cache(instance: instance.id))
        }
        return RoutingDecision(route: .origin)
    }

    public func review(_ observation: ContentObservation) -> ScalingDecision { .none }
}
