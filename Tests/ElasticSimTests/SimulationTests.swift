import Foundation
import Testing

@testable import ElasticSim

/// Player arithmetic and cache lifecycle on a one-AS network, with viewers given one by one.
struct SimulationTests {
    /// Origin -> one access AS over a link of `linkMbps`; a ladder of the given bitrates.
    private func scenario(linkMbps: Double = 10_000, bitrates: [Double] = [1e6, 2.5e6, 5e6, 8e6, 10e6, 20e6], duration: Double = 300) -> Scenario {
        var s = Scenario()
        s.name = "unit"
        s.duration = duration
        s.topology.source = .tree(fanout: 1, depth: 1)
        s.topology.accessLinkCapacity = linkMbps * 1e6
        s.topology.hopDelay = 0
        s.workload.bitrates = bitrates
        s.workload.warmStart = false
        s.workload.hosts = 100
        return s
    }

    private func run(_ s: Scenario, _ arrivals: [Simulation.ScriptedArrival], fanout: Int = 1, depth: Int = 1) -> SimulationResult {
        let topology = Topology.syntheticTree(fanout: fanout, depth: depth, seed: 1, accessLinkCapacity: s.topology.accessLinkCapacity)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.scriptedArrivals = arrivals
        return simulation.run()
    }

    private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance }

    /// Every group's list of cohorts holds exactly the live cohorts of that group, linked both
    /// ways, and counts its eager (not lazy) ones; every group a fill limits is on that fill's
    /// list of dependents exactly once.
    private func expectConsistentGroupLists(_ simulation: Simulation) {
        let info = simulation.groupInfo
        var listed: [Int32: Int32] = [:]
        for g in info.indices {
            var previous: Int32 = -1
            var eager = 0
            var c = info[g].firstCohort
            while c >= 0 && listed.count <= simulation.cohorts.count {
                let cohort = simulation.cohorts[Int(c)]
                if !cohort.lazy { eager += 1 }
                #expect(cohort.live && cohort.group == Int32(g), "cohort \(c) in the list of group \(g)")
                #expect(cohort.previousInGroup == previous, "cohort \(c): back link")
                #expect(listed.updateValue(Int32(g), forKey: c) == nil, "cohort \(c) listed twice")
                previous = c
                c = cohort.nextInGroup
            }
            #expect(info[g].lastCohort == previous, "group \(g): last cohort")
            #expect(Int(info[g].eagerCohorts) == eager, "group \(g): eager cohorts")
        }
        for (i, cohort) in simulation.cohorts.enumerated() where cohort.live {
            #expect(listed[Int32(i)] == cohort.group, "live cohort \(i) is in its group's list")
        }
        var dependents: [Int32: Int] = [:]
        for g in info.indices {
            var last: Int32 = -1
            var d = info[g].firstDependent
            while d >= 0 && dependents.count <= info.count {
                #expect(info[Int(d)].limiter == Int32(g), "group \(d) on the list of fill \(g)")
                dependents[d, default: 0] += 1
                last = d
                d = info[Int(d)].nextDependent
            }
            #expect(info[g].lastDependent == last, "fill \(g): last dependent")
        }
        for g in info.indices where info[g].limiter >= 0 {
            #expect(dependents[Int32(g)] == 1, "group \(g) is once on its limiter's list")
        }
    }

    @Test func startupDelayIsBufferTimesBitrateOverThroughputOnAnIdlePath() {
        // Viewers far apart, one per rung of the ladder; the 25 Mb/s access link is the limit.
        let arrivals = (0..<6).map { Simulation.ScriptedArrival(time: Double($0) * 40, node: 1, content: 0, bitrateIndex: $0, seconds: 30) }
        let r = run(scenario(), arrivals)
        let expected = [1.0, 2.5, 5, 8, 10, 20].map { 10 * $0 / 25 }
        #expect(r.startupDelays.count == 6)
        for (got, want) in zip(r.startupDelays, expected) { #expect(close(got, want), "\(got) vs \(want)") }
        #expect(r.bufferingRatios.allSatisfy { $0 == 0 })
    }

    @Test func aLiveStreamIsCappedAtItsBitrateOnceTheBufferIsFull() throws {
        // 5 Mb/s, 100 s: 10 s buffered at 25 Mb/s in 2 s, then 5 Mb/s until all 500 Mb are in.
        var s = scenario(bitrates: [5e6])
        s.sampleInterval = 10
        let r = run(s, [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 100)])
        #expect(close(r.startupDelays[0], 2))
        #expect(close(r.viewerBytes, 500e6 / 8, 1e-3))
        let midway = try #require(r.series.first { $0.time == 50 })
        #expect(close(midway.originEgress, 5e6, 1e-3))
    }

    @Test func stallsFollowFromThroughputBelowTheBitrate() {
        // 4 Mb/s path, 5 Mb/s stream of 120 s: start at 12.5 s, empty at 62.5 s, resume at 75 s,
        // empty at 125 s, resume at 137.5 s, download done at 150 s: 25 s stalled in 2 stalls.
        let r = run(scenario(linkMbps: 4, bitrates: [5e6]), [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 120)])
        #expect(close(r.startupDelays[0], 12.5))
        #expect(r.stallCounts == [2])
        #expect(close(r.bufferingRatios[0], 25.0 / 120))
    }

    @Test func twoFlowsShareTheBottleneckEqually() {
        // Two 5 Mb/s viewers on a 4 Mb/s path get 2 Mb/s each: start-up 10 * 5 / 2 = 25 s.
        let r = run(scenario(linkMbps: 4, bitrates: [5e6]), [
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
            .init(time: 0, node: 1, content: 1, bitrateIndex: 0, seconds: 60),
        ])
        #expect(r.startupDelays.count == 2)
        for d in r.startupDelays { #expect(close(d, 25)) }
    }

    private func elastic(threshold: Int, boot: Double, idle: Double = 0, wait: Bool = true) -> Scenario {
        var s = scenario(bitrates: [5e6], duration: 200)
        s.caches.mode = .elastic
        s.caches.threshold = threshold
        s.caches.bootTime = boot
        s.caches.idleTimeout = idle
        s.caches.waitForBoot = wait
        return s
    }

    /// A at 0 s and B at 10 s watch the same channel for 60 s each.
    private let pair: [Simulation.ScriptedArrival] = [
        .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
        .init(time: 10, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
    ]

    @Test func cacheStartsAtTheThresholdIsReadyAfterBootAndStopsWithItsLastViewer() {
        let r = run(elastic(threshold: 2, boot: 1), pair)
        // A is below the threshold: origin, 2 s start-up. B starts the cache and waits 1 s.
        #expect(r.startupDelays.count == 2)
        #expect(close(r.startupDelays[0], 2))
        #expect(close(r.startupDelays[1], 3))
        #expect(r.instanceStarts == 1)
        #expect(r.peakInstances == 1)
        // Cache from 10 s until B leaves at 10 + 3 + 60 = 73 s.
        #expect(close(r.instanceSeconds, 63))
        #expect(close(r.cacheServedBytes, 60 * 5e6 / 8, 1e-3))
        // Origin: all of A, plus the cache fill from ready (11 s) to B's last byte (63 s).
        #expect(close(r.originEgressBytes, (60 + 52) * 5e6 / 8, 1e-3))
    }

    @Test func idleTimeoutKeepsTheCacheUp() {
        let r = run(elastic(threshold: 2, boot: 1, idle: 30), pair)
        #expect(close(r.instanceSeconds, 63 + 30))
    }

    @Test func thresholdOneServesEveryViewerFromTheCache() {
        let r = run(elastic(threshold: 1, boot: 0.5), pair)
        #expect(close(r.startupDelays[0], 2.5))
        #expect(close(r.startupDelays[1], 2))
        #expect(r.instanceStarts == 1)
        #expect(close(r.cacheServedBytes, 2 * 60 * 5e6 / 8, 1e-3))
    }

    @Test func viewersArrivingDuringTheBootAlsoMoveToTheCacheWhenReady() {
        // Boot 5 s. A (t 0) starts the instance, B (t 1) finds it booting; both move at 5 s.
        // A has 50 Mb by 2 s, then 5 Mb/s: 65 Mb at 5 s. B has 50 Mb by 3 s: 60 Mb at 5 s.
        let arrivals: [Simulation.ScriptedArrival] = [
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
            .init(time: 1, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
        ]
        let r = run(elastic(threshold: 1, boot: 5, wait: false), arrivals)
        #expect(r.instanceStarts == 1)
        let expectedMegabits: Double = (300 - 65) + (300 - 60)
        #expect(close(r.cacheServedBytes, expectedMegabits * 1e6 / 8, 1e-3))
        #expect(close(r.instanceSeconds, 63))
    }

    @Test func bypassWithoutBootTimeServesFromTheCacheAtOnce() {
        let r = run(elastic(threshold: 1, boot: 0, wait: false), [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60)])
        #expect(close(r.cacheServedBytes, 300e6 / 8, 1e-3))
        #expect(close(r.instanceSeconds, 62))
    }

    @Test func bypassingViewersStartFromTheOriginAndMoveToTheCache() {
        let r = run(elastic(threshold: 1, boot: 1, wait: false), [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60)])
        // No wait for the boot; 1 s at 25 Mb/s from the origin, the rest from the cache.
        #expect(close(r.startupDelays[0], 2))
        #expect(close(r.cacheServedBytes, (300e6 - 25e6) / 8, 1e-3))
    }

    @Test func hierarchicalCachesFillFromTheCacheUpstream() {
        // Origin -> 2 transit ASes -> 2 access ASes each (nodes 3 and 4 share transit node 1).
        // One viewer at 3 and one at 4 on the same channel: flat caches fetch it twice from the
        // origin, hierarchical ones once (into the transit AS's cache).
        let pair: [Simulation.ScriptedArrival] = [
            .init(time: 0, node: 3, content: 0, bitrateIndex: 0, seconds: 60),
            .init(time: 0, node: 4, content: 0, bitrateIndex: 0, seconds: 60),
        ]
        var flat = elastic(threshold: 1, boot: 0)
        flat.topology.source = .tree(fanout: 2, depth: 2)
        var tiered = flat
        tiered.caches.mode = .hierarchical
        let a = run(flat, pair, fanout: 2, depth: 2)
        let b = run(tiered, pair, fanout: 2, depth: 2)
        // Each download takes 2 s at 25 Mb/s plus 50 s at 5 Mb/s; a fill lasts as long.
        let fill = 52 * 5e6 / 8
        #expect(close(a.originEgressBytes, 2 * fill, 1e-3))
        #expect(close(b.originEgressBytes, fill, 1e-3))
        #expect(a.instanceStarts == 2)
        #expect(b.instanceStarts == 3)
        #expect(close(a.cacheServedBytes, b.cacheServedBytes, 1e-3))
    }

    @Test func aStarvedFillStallsTheViewersOfItsCache() {
        // A static cache in the access AS fetches the 5 Mb/s stream over a 4 Mb/s link: its
        // viewers get no more than the fill, as if they sat behind the link themselves (start
        // at 12.5 s, 2 stalls, 25 s stalled; see stallsFollowFromThroughputBelowTheBitrate).
        // Two viewers of the channel share the one fill, so both see 4 Mb/s (not 2 each).
        // Their cohorts are lazy while their buffers hold more than a second (Cohort.lazy): the
        // crossings must come at the same times.
        var s = scenario(linkMbps: 4, bitrates: [5e6])
        s.caches.mode = .static
        let topology = Topology.syntheticTree(fanout: 1, depth: 1, seed: 1, accessLinkCapacity: s.topology.accessLinkCapacity)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.scriptedArrivals = [
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 120),
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 120),
        ]
        let r = simulation.run()
        #expect(simulation.wakeUps > 0, "no cohort was lazy: the case does not test lazy cohorts")
        expectConsistentGroupLists(simulation)
        #expect(r.startupDelays.count == 2)
        for d in r.startupDelays { #expect(close(d, 12.5)) }
        #expect(r.stallCounts == [2, 2])
        for b in r.bufferingRatios { #expect(close(b, 25.0 / 120)) }
        #expect(close(r.originEgressBytes, 150 * 4e6 / 8, 1e-3))
        #expect(close(r.cacheServedBytes, 2 * 120 * 5e6 / 8, 1e-3))
    }

    @Test(arguments: [Scenario.CacheConfig.Mode.elastic, .hierarchical])
    func aFillStarvedUpstreamStallsTheCachesBelowIt(mode: Scenario.CacheConfig.Mode) {
        // Origin -> transit AS 1 over 4 Mb/s -> access AS 2 over 10 Gb/s, one viewer in AS 2.
        // Flat caches fill from the origin across the 4 Mb/s link; hierarchical ones from the
        // transit AS's cache, whose own fill is starved at 4 Mb/s: either way the access cache
        // gets 4 Mb/s and its viewer stalls as behind a 4 Mb/s link (start at 12.5 s, 2 stalls,
        // 25 s stalled; see stallsFollowFromThroughputBelowTheBitrate).
        var s = elastic(threshold: 1, boot: 0)
        s.caches.mode = mode
        let topology = Topology.syntheticTree(fanout: 1, depth: 2, seed: 1, accessLinkCapacity: 10e9, coreLinkCapacity: 4e6)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.scriptedArrivals = [.init(time: 0, node: 2, content: 0, bitrateIndex: 0, seconds: 120)]
        let r = simulation.run()
        #expect(r.instanceStarts == (mode == .hierarchical ? 2 : 1))
        #expect(r.startupDelays.count == 1 && close(r.startupDelays[0], 12.5))
        #expect(r.stallCounts == [2])
        #expect(r.bufferingRatios.count == 1 && close(r.bufferingRatios[0], 25.0 / 120))
        #expect(close(r.originEgressBytes, 150 * 4e6 / 8, 1e-3))
        expectConsistentGroupLists(simulation)
    }

    @Test func aFillWithSpareBandwidthLetsViewersFillTheirBufferAtFullSpeed() {
        // The same cache behind a 6 Mb/s link: the fill gets its 5 Mb/s, viewers their 25 Mb/s.
        var s = scenario(linkMbps: 6, bitrates: [5e6])
        s.caches.mode = .static
        let r = run(s, [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 120)])
        #expect(close(r.startupDelays[0], 2))
        #expect(r.stallCounts == [0])
    }

    /// Viewers of two bitrates arriving on a link they saturate: capped viewers whose share
    /// falls below their bitrate move to the uncapped group again and again, and waiting viewers
    /// of both bitrates share a cohort. At the end every live cohort is the one cohort of its
    /// group, bitrate and state, holds exactly the viewers that point to it, and every viewer
    /// group carries exactly its cohorts' flows.
    @Test func starvedViewersMergeIntoOneCohortPerGroupAndState() {
        let s = scenario(linkMbps: 20, bitrates: [2.5e6, 5e6], duration: 90)
        let arrivals = (0..<40).map {
            Simulation.ScriptedArrival(time: Double($0) * 1.7, node: 1, content: $0 % 3, bitrateIndex: $0 % 2, seconds: 40 + Double($0 % 5) * 13)
        }
        let topology = Topology.syntheticTree(fanout: 1, depth: 1, seed: 1, accessLinkCapacity: s.topology.accessLinkCapacity)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.scriptedArrivals = arrivals
        let r = simulation.run()
        #expect(r.stallCounts.reduce(0, +) > 0, "the link must be saturated for the case to mean anything")
        var members: [Int32: Int] = [:]
        for viewer in simulation.viewers where viewer.cohort >= 0 { members[viewer.cohort, default: 0] += 1 }
        var flows: [Int32: Int] = [:]
        var live = 0
        for (i, cohort) in simulation.cohorts.enumerated() where cohort.live {
            live += 1
            let c = Int32(i)
            let key = simulation.cohortKey(group: cohort.group, bitrateIndex: cohort.bitrateIndex, playing: cohort.playing)
            #expect(simulation.primaryCohort[key] == c)
            #expect(cohort.count == members[c, default: 0])
            flows[cohort.group, default: 0] += cohort.count
        }
        #expect(live > 1)
        for g in simulation.groupInfo.indices where simulation.groupInfo[g].kind == .viewer {
            #expect(simulation.net.flows(Int32(g)) == flows[Int32(g), default: 0], "group \(g)")
        }
        #expect(close(r.viewerBytes, r.originEgressBytes, 1e-3 * r.viewerBytes))
        expectConsistentGroupLists(simulation)
    }

    @Test func backgroundStreamsShareTheLinks() {
        // Two background streams at 5 Mb/s on the 10 Mb/s link: a viewer from the origin gets a
        // third of it, 10/3 Mb/s, and starts after 10 * 5 / (10/3) = 15 s (5 s without them).
        var s = scenario(linkMbps: 10, bitrates: [5e6])
        s.workload.backgroundStreams = 2
        let arrival: [Simulation.ScriptedArrival] = [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60)]
        let busy = run(s, arrival)
        s.workload.backgroundStreams = 0
        let quiet = run(s, arrival)
        #expect(close(busy.startupDelays[0], 15))
        #expect(close(quiet.startupDelays[0], 5))
        #expect(busy.backgroundBytes > 0 && quiet.backgroundBytes == 0)
        // Background bytes are neither origin egress nor viewer bytes.
        #expect(close(busy.originEgressBytes, busy.viewerBytes, 1e-3))
        #expect(close(busy.viewerBytes, 60 * 5e6 / 8, 1e-3))
    }
}
