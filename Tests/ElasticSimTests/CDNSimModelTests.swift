import Testing

@testable import ElasticSim

/// The CDNSim-compatible model (`model: cdnsim`) on hand-computed cases.
struct CDNSimModelTests {
    /// Origin -> one access AS (one hop, 10 ms), 5 Mb/s streams.
    private func scenario(linkMbps: Double = 10_000, model: Scenario.Model = .cdnsim) -> Scenario {
        var s = Scenario()
        s.name = "cdnsim"
        s.model = model
        s.duration = 400
        s.topology.source = .tree(fanout: 1, depth: 1)
        s.topology.accessLinkCapacity = linkMbps * 1e6
        s.topology.hopDelay = 0.01
        s.workload.bitrates = [5e6]
        s.workload.warmStart = false
        s.workload.hosts = 100
        return s
    }

    private func run(_ s: Scenario, _ arrivals: [Simulation.ScriptedArrival]) -> SimulationResult {
        let topology = Topology.syntheticTree(fanout: 1, depth: 1, seed: 1, accessLinkCapacity: s.topology.accessLinkCapacity)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.scriptedArrivals = arrivals
        return simulation.run()
    }

    private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance }

    @Test func startupIncludesThePropagationDelayAndCountsAsBuffering() throws {
        // The flow starts (1 hop + 1) x 10 ms after the request; 50 Mb at 25 Mb/s take 2 s more.
        let r = run(scenario(), [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 100)])
        let startup = try #require(r.startupDelays.first)
        #expect(close(startup, 2.02))
        // Buffering ratio = buffering / (buffering + play), the start-up counted as buffering.
        #expect(close(r.bufferingRatios[0], 2.02 / (2.02 + 100)))
        // This simulator's own model: 2 s plus a round trip of the path (20 ms), ratio 0.
        let own = run(scenario(model: .ecdn), [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 100)])
        #expect(close(own.startupDelays[0], 2.02))
        #expect(own.bufferingRatios[0] == 0)
    }

    @Test func stallsAndStartupBothCountAsBuffering() {
        // 4 Mb/s path, 5 Mb/s stream of 120 s, flow from 0.02 s: playback at 12.52 s, buffer
        // empty at 62.52 s, resumes at 75.02 s, empty at 125.02 s, resumes at 137.52 s.
        let r = run(scenario(linkMbps: 4), [.init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 120)])
        #expect(close(r.startupDelays[0], 12.52))
        #expect(r.stallCounts == [2])
        let buffering = 12.52 + 25
        #expect(close(r.bufferingRatios[0], buffering / (buffering + 120)))
    }

    @Test func perASHardwareStatisticsAreExactPeaks() throws {
        // Elastic cache ready at once; A at 0 s and B at 1 s both download at 25 Mb/s until
        // their 50 Mb start-up buffer is in (A until 2 s, B until 3 s): 50 Mb/s from 1 to 2 s.
        var s = scenario(model: .ecdn)
        s.caches.mode = .elastic
        s.caches.bootTime = 0
        let r = run(s, [
            .init(time: 0, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
            .init(time: 1, node: 1, content: 0, bitrateIndex: 0, seconds: 60),
        ])
        let site = try #require(r.sites.first)
        #expect(r.sites.count == 1)
        #expect(close(site.peakThroughput, 50e6, 1e-3))
        #expect(site.peakConnections == 2)
        #expect(site.peakInstances == 1)
        #expect(site.instanceStarts == 1)
    }

    /// Arrivals drawn by a scenario's own workload (the trace of the run).
    private func drawnArrivals(_ configure: (inout Scenario) -> Void) -> [SimulationResult.TraceRow] {
        var s = scenario()
        s.workload.bitrates = [1e6, 2.5e6, 5e6, 8e6, 10e6, 20e6]
        s.topology.hopDelay = 0
        s.duration = 200
        configure(&s)
        let topology = Topology.syntheticTree(fanout: 1, depth: 1, seed: 1, accessLinkCapacity: 1e15)
        return Simulation(scenario: s, topology: topology, recordTrace: true).run().trace ?? []
    }

    @Test func bitrateRungsAboveTheTopAreRedrawnNotCapped() {
        // Poisson(2): P(X >= 5) = 0.0527 lands on the top rung when capped; redrawn, the top
        // rung keeps P(X = 5) / P(X <= 5) = 0.0367.
        func topShare(_ rule: Scenario.WorkloadConfig.BitrateAboveTop) -> Double {
            let rows = drawnArrivals {
                $0.workload.bitrateAboveTop = rule
                $0.workload.arrivalProfile = [(0, 100)]
            }
            return Double(rows.filter { $0.bitrate == 20e6 }.count) / Double(rows.count)
        }
        let capped = topShare(.cap)
        let redrawn = topShare(.redraw)
        // ~20,000 draws: one standard error is ~0.0015.
        #expect(abs(capped - 0.0527) < 0.006)
        #expect(abs(redrawn - 0.0367) < 0.006)
    }

    @Test func gammaGapsKeepTheRateButAreFarBurstierThanPoisson() {
        // Rate 50/s: gamma(shape 1/50, scale 1) gaps have mean 0.02 s and a coefficient of
        // variation of sqrt(50) ~ 7.1; exponential gaps have 1.
        func gaps(_ kind: Scenario.WorkloadConfig.Interarrival) -> (mean: Double, cv: Double) {
            let rows = drawnArrivals {
                $0.workload.interarrival = kind
                $0.workload.arrivalProfile = [(0, 50)]
                $0.duration = 400
            }
            let times = rows.map(\.arrival)
            let g = zip(times.dropFirst(), times).map { $0 - $1 }
            let mean = g.reduce(0, +) / Double(g.count)
            let sd = (g.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(g.count - 1)).squareRoot()
            return (mean, sd / mean)
        }
        let poisson = gaps(.exponential)
        let gamma = gaps(.gamma)
        #expect(abs(poisson.mean / 0.02 - 1) < 0.03)
        #expect(abs(poisson.cv - 1) < 0.06)
        #expect(abs(gamma.mean / 0.02 - 1) < 0.25)
        #expect(gamma.cv > 4)
    }

    @Test func aWorkloadThatStopsArrivingDrainsAndEndsTheRun() {
        var s = scenario()
        s.duration = 10_000
        s.workload.arrivalProfile = [(0, 2), (10, 0)]
        s.workload.viewTime = (60, 100, 120)
        let topology = Topology.syntheticTree(fanout: 1, depth: 1, seed: 1, accessLinkCapacity: 10e9)
        let r = Simulation(scenario: s, topology: topology).run()
        #expect(r.viewers > 0)
        #expect(r.duration < 200, "the run ends once the last viewer has left, not at 10,000 s")
        #expect(r.startupDelays.count == r.viewers)
        #expect(r.viewersNotStarted == 0)
    }
}
