import Testing

@testable import ElasticSim

/// The capacity model that counts instances for static and elastic caches alike, and the cost
/// of a run.
struct CostModelTests {
    private func scenario(_ mode: Scenario.CacheConfig.Mode, fanout: Int = 1) -> Scenario {
        var s = Scenario()
        s.name = "\(mode)"
        s.duration = 1000
        s.topology.source = .tree(fanout: fanout, depth: 1)
        s.topology.hopDelay = 0
        s.workload.bitrates = [5e6]
        s.workload.warmStart = false
        s.workload.hosts = 100
        s.caches.mode = mode
        s.caches.bootTime = 0
        return s
    }

    private func run(_ s: Scenario, _ arrivals: [Simulation.ScriptedArrival], fanout: Int = 1) -> SimulationResult {
        let topology = Topology.syntheticTree(fanout: fanout, depth: 1, seed: 1)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.scriptedArrivals = arrivals
        return simulation.run()
    }

    private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance * max(1, abs(a), abs(b)) }

    @Test func staticAndElasticCostTheSameWhenTheLoadNeverChanges() {
        // One site, one viewer for the whole run (it drains when the viewer leaves at 302 s):
        // a static cache provisioned for the peak and an elastic one that boots with the viewer
        // run one instance over the same time.
        let viewer: [Simulation.ScriptedArrival] = [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 300)]
        let fixed = run(scenario(.static), viewer)
        let elastic = run(scenario(.elastic), viewer)
        #expect(close(fixed.duration, 302))
        #expect(close(elastic.duration, 302))
        #expect(close(fixed.instanceSeconds, 302) && close(elastic.instanceSeconds, 302))
        #expect(close(fixed.siteSeconds, elastic.siteSeconds))
        #expect(fixed.instanceStarts == 1)
        #expect(elastic.instanceStarts == 1)
        #expect(fixed.peakInstances == 1)
        #expect(close(fixed.originEgressBytes, elastic.originEgressBytes))
        #expect(fixed.cost.total > 0)
        #expect(close(fixed.cost.total, elastic.cost.total, 1e-12))
    }

    @Test func elasticPaysOnlyWhileASiteHasViewers() {
        // Two sites, busy one after the other: static caches run at both all the time.
        let arrivals: [Simulation.ScriptedArrival] = [
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 100),
            .init(time: 200, node: 2, content: 0, bitrateIndex: 0, seconds: 100),
        ]
        let fixed = run(scenario(.static, fanout: 2), arrivals, fanout: 2)
        let elastic = run(scenario(.elastic, fanout: 2), arrivals, fanout: 2)
        #expect(close(fixed.siteSeconds, 2 * 302))
        #expect(close(elastic.siteSeconds, 2 * 102))
        #expect(close(elastic.instanceSeconds, 2 * 102))
        #expect(elastic.cost.total < fixed.cost.total)
    }

    @Test func aSiteRunsAsManyInstancesAsItsConnectionsAndThroughputNeed() throws {
        // Instances of 2 connections and 10 Mb/s. Five viewers at once need 3 by connections;
        // while all download their start-up buffer at 25 Mb/s (125 Mb/s) they need 13.
        var s = scenario(.elastic)
        s.caches.instanceSize.connections = 2
        s.caches.instanceSize.capacity = 10e6
        let five = (0..<5).map { _ in Simulation.ScriptedArrival(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60) }
        let elastic = run(s, five)
        let site = try #require(elastic.sites.first)
        #expect(site.peakInstances == 13)
        #expect(site.peakContentInstances == 1)
        // After 2 s the buffers are full: 25 Mb/s in all, 3 instances by connections.
        var fixedScenario = s
        fixedScenario.caches.mode = .static
        let fixed = run(fixedScenario, five)
        #expect(try #require(fixed.sites.first).peakInstances == 13)
        #expect(close(fixed.instanceSeconds, 13 * fixed.duration))
        #expect(elastic.instanceSeconds < fixed.instanceSeconds)
        #expect(elastic.instanceSeconds > 3 * 60)
    }

    /// The instance count follows the served rate across and within the bands between
    /// thresholds (a settle recounts a site only when its rate leaves the band of its count).
    /// Instances of 10 Mb/s; a viewer of 5 Mb/s arrives every 10 s, downloads its start-up
    /// buffer at 25 Mb/s for 2 s, then its bitrate: 3, 1, 3, 1, 4, 2, 4, 2 instances for 2, 8,
    /// 2, 8, 2, 8, 2, 8 s.
    @Test func instancesFollowTheServedRateThroughItsBands() {
        var s = scenario(.elastic)
        s.duration = 40
        s.caches.instanceSize.connections = 1000
        s.caches.instanceSize.capacity = 10e6
        let viewers = (0..<4).map {
            Simulation.ScriptedArrival(time: Double($0) * 10, node: 1, content: 0, bitrateIndex: 0, seconds: 100)
        }
        let result = run(s, viewers)
        let counts: [Double] = [3, 1, 3, 1, 4, 2, 4, 2]
        let expected = counts.indices.reduce(0.0) { $0 + counts[$1] * ($1 % 2 == 0 ? 2 : 8) }
        #expect(close(result.instanceSeconds, expected), "\(result.instanceSeconds)")
        #expect(result.peakInstances == 4)
    }

    @Test func sharedInstancesServeANewChannelWithoutABoot() {
        // Boot 1 s. A (channel 0) at 0 s boots the site's instance; B (channel 1) at 10 s is
        // served at once by a shared instance, but waits for its own with per-content ones.
        var shared = scenario(.elastic)
        shared.caches.bootTime = 1
        var perContent = shared
        perContent.caches.instances = .perContent
        let arrivals: [Simulation.ScriptedArrival] = [
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
            .init(time: 10, node: 1, content: 1, bitrateIndex: 0, seconds: 60),
        ]
        let a = run(shared, arrivals)
        let b = run(perContent, arrivals)
        #expect(close(a.startupDelays[0], 3) && close(a.startupDelays[1], 2))
        #expect(close(b.startupDelays[0], 3) && close(b.startupDelays[1], 3))
        #expect(a.instanceStarts == 1)
        #expect(b.instanceStarts == 2)
        #expect(a.contentInstanceStarts == 2 && b.contentInstanceStarts == 2)
    }
}
