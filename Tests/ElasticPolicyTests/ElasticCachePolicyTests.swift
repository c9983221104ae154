import ElasticPolicy
import Testing

struct ElasticCachePolicyTests {
    private func observe(viewers: Int, instances: [InstanceState] = [], siteInstances: Int? = nil, now: Double = 100) -> ContentObservation {
        ContentObservation(site: 3320, content: 7, viewers: viewers, instances: instances, siteInstances: siteInstances ?? instances.count, now: now)
    }

    @Test func belowThresholdViewersGoToTheOrigin() {
        let policy = ElasticCachePolicy(threshold: 3)
        #expect(policy.route(observe(viewers: 1)) == RoutingDecision(route: .origin))
        #expect(policy.route(observe(viewers: 2)) == RoutingDecision(route: .origin))
        #expect(policy.route(observe(viewers: 3)) == RoutingDecision(route: .waitForNewInstance, start: true))
    }

    @Test func bypassModeSendsViewersToTheOriginUntilTheInstanceIsReady() {
        let policy = ElasticCachePolicy(waitForBoot: false)
        #expect(policy.route(observe(viewers: 1)) == RoutingDecision(route: .bypassToNewInstance, start: true))
        let booting = InstanceState(id: 4, phase: .booting(readyAt: 100.1), connections: 1, idleSince: nil)
        #expect(policy.route(observe(viewers: 2, instances: [booting])) == RoutingDecision(route: .bypass(instance: 4)))
    }

    @Test func viewersWaitForABootingInstanceAndPreferAReadyOne() {
        let policy = ElasticCachePolicy()
        let booting = InstanceState(id: 4, phase: .booting(readyAt: 100.1), connections: 1, idleSince: nil)
        #expect(policy.route(observe(viewers: 2, instances: [booting])) == RoutingDecision(route: .waitForBoot(instance: 4)))
        let ready = InstanceState(id: 5, phase: .ready, connections: 9, idleSince: nil)
        #expect(policy.route(observe(viewers: 2, instances: [booting, ready])) == RoutingDecision(route: .cache(instance: 5)))
    }

    @Test func connectionAndSiteLimitsOverflowToTheOrigin() {
        let policy = ElasticCachePolicy(maxConnectionsPerInstance: 2, maxInstancesPerSite: 3)
        let full = InstanceState(id: 1, phase: .ready, connections: 2, idleSince: nil)
        // Full instance, room at the site: start another one.
        #expect(policy.route(observe(viewers: 3, instances: [full], siteInstances: 1)) == RoutingDecision(route: .waitForNewInstance, start: true))
        // Full instance and full site: origin.
        #expect(policy.route(observe(viewers: 3, instances: [full], siteInstances: 3)) == RoutingDecision(route: .origin))
    }

    @Test func idleInstancesStopAfterTheTimeout() {
        let policy = ElasticCachePolicy(idleTimeout: 30)
        let idle = InstanceState(id: 8, phase: .ready, connections: 0, idleSince: 90)
        #expect(policy.review(observe(viewers: 0, instances: [idle], now: 100)) == ScalingDecision(reviewAt: 120))
        #expect(policy.review(observe(viewers: 0, instances: [idle], now: 120)) == ScalingDecision(stop: [8]))
        let busy = InstanceState(id: 9, phase: .ready, connections: 1, idleSince: nil)
        #expect(policy.review(observe(viewers: 1, instances: [busy], now: 500)) == .none)
    }

    @Test func defaultStopsWhenTheLastViewerLeaves() {
        let policy = ElasticCachePolicy()
        let idle = InstanceState(id: 8, phase: .ready, connections: 0, idleSince: 100)
        #expect(policy.review(observe(viewers: 0, instances: [idle], now: 100)) == ScalingDecision(stop: [8]))
    }

    @Test func staticPolicyServesFromItsInstanceUpToItsConnectionLimit() {
        let policy = StaticCachePolicy(maxConnections: 1)
        let free = InstanceState(id: 0, phase: .ready, connections: 0, idleSince: nil)
        let busy = InstanceState(id: 0, phase: .ready, connections: 1, idleSince: nil)
        #expect(policy.route(observe(viewers: 1, instances: [free])) == RoutingDecision(route: .cache(instance: 0)))
        #expect(policy.route(observe(viewers: 1, instances: [busy])) == RoutingDecision(route: .origin))
        #expect(policy.route(observe(viewers: 1)) == RoutingDecision(route: .origin))
        #expect(policy.review(observe(viewers: 0, instances: [free])) == .none)
    }
}
