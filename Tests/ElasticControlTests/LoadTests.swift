@testable import ElasticControl
import Foundation
import MediaOrigin
import NIOCore
import NIOHTTP1
import NIOPosix
import PlayerLoad
import Testing

struct LoadTests {
    @Test func simulatorTraceIsParsedAndSorted() throws {
        let rows = try TraceArrival.parse(csv: "arrival_s,asn,content,bitrate_bps,view_s\n5.5,4,0,2500000.0,26.3\n-1.0,2,3,1000000,60\n")
        #expect(rows.map(\.arrival) == [-1.0, 5.5])
        #expect(rows[1] == TraceArrival(arrival: 5.5, group: "4", content: 0, bitrate: 2_500_000, view: 26.3))
        #expect(throws: LoadError.self) { try TraceArrival.parse(csv: "arrival_s,asn\n1,2\n") }
    }

    @Test func profilesStepAndRepeat() throws {
        let profile = try LoadProfile.parse("0:0.5,10:2,20:0", sites: 2)
        #expect(profile.rates(at: 5) == [0.5, 0.5])
        #expect(profile.rates(at: 15) == [2, 2])
        #expect(profile.rates(at: 99) == [0, 0])
        #expect(LoadProfile.demo.rates(at: 150 + 45) == LoadProfile.demo.rates(at: 45))
        #expect(throws: LoadError.self) { try LoadProfile.parse("0:x", sites: 1) }
    }

    /// The arrivals of a profile are drawn by slice, not by wake-up: drawn at once or in
    /// irregular steps, a seed gives the same viewers.
    @Test func profileArrivalsDoNotDependOnWhenTheGeneratorWakesUp() {
        let configuration = LoadConfiguration(
            router: "http://127.0.0.1:1", sitePrefixes: ["127.0.97.0/24", "127.0.96.0/24"], channels: 3,
            profile: LoadProfile(steps: [.init(start: 0, rates: [20, 5]), .init(start: 1, rates: [0, 30])]), duration: 2, watch: 1...5
        )
        var atOnce = ArrivalSchedule(configuration: configuration, sites: 2)
        let all = atOnce.arrivals(through: 3600)
        #expect(atOnce.isFinished)
        #expect(Set(all.map(\.slice)).isSubset(of: Set(0..<20)))
        #expect(all.contains { $0.site == 0 && $0.slice < 10 } && all.contains { $0.site == 1 && $0.slice >= 10 })
        #expect(!all.contains { $0.site == 0 && $0.slice >= 10 })

        var stepped = ArrivalSchedule(configuration: configuration, sites: 2)
        var steps: [ArrivalSchedule.Arrival] = []
        for elapsed in [0, 0.05, 0.35, 0.36, 1.7, 1.95, 3600] {
            let drawn = stepped.arrivals(through: elapsed)
            #expect(drawn.allSatisfy { Double($0.slice) * ArrivalSchedule.slice <= elapsed })
            steps += drawn
        }
        #expect(steps == all)
    }

    /// A generator held past its run's duration right after it started (a loaded machine) still
    /// starts every viewer of its profile, late, instead of ending with the ones it had.
    @Test func aGeneratorThatWakesUpLateStartsEveryArrivalOfItsProfile() async throws {
        // Not a router: every viewer ends at once with an error, which is all this needs.
        let origin = try await DemoOrigin(group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger)
        let configuration = LoadConfiguration(
            router: origin.url, sitePrefixes: ["127.0.97.0/24"], channels: 1, profile: .constant(20, sites: 1), duration: 2, watch: 1...1
        )
        var schedule = ArrivalSchedule(configuration: configuration, sites: 1)
        let expected = schedule.arrivals(through: 3600).count
        let load = try LoadGenerator(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger)
        let executor = HeldExecutor()
        let run = Task(executorPreference: executor) { await load.generate() }
        let started = await TestStack.eventually { load.startedViewers > 0 }
        try #require(started)
        let gate = executor.hold()
        let heldAt = ContinuousClock.now
        while ContinuousClock.now - heldAt < .seconds(configuration.duration! + 0.2) {
            try await Task.sleep(for: .milliseconds(50))
        }
        gate.signal()
        let report = await run.value
        #expect(report.viewers == expected)
        #expect(report.viewers > 20)
        await origin.close()
    }

    /// Players outside every site are sent to the origin and play a real live stream.
    ///
    /// A player starts 6 s behind the live edge and watches 10 s: it stalls if the stream stops
    /// going on (its buffer runs dry after 6 s), not when the machine holds it up for less than
    /// about 5 s (a safety margin for a busy machine; with 1.5 s of buffer it stalled under load).
    @Test func playersFollowTheRedirectAndPlayWithoutStalls() async throws {
        let stack = try await TestStack(octet: 161, origin: DemoOriginConfiguration(segmentDuration: 0.5, windowSegments: 24))
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.99.0/24"], channels: 2, profile: .constant(4, sites: 1), duration: 1.5,
                watch: 10...10, player: PlayerConfiguration(startupBuffer: 1, maxBuffer: 8, liveEdgeOffset: 12, bitrate: 1_000_000)
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let report = await load.generate()
        #expect(report.viewers >= 1)
        #expect(report.withErrors == 0)
        #expect(report.started == report.viewers)
        #expect(report.toOrigin == report.viewers)
        #expect(
            report.results.allSatisfy { $0.bitrate == 1_000_000 && $0.watchSeconds > 0.5 && $0.stalls == 0 },
            "\(report.results.map { "arrival \($0.arrival) s: started after \($0.startupDelay ?? -1) s, \($0.stalls) stalls, \($0.stallSeconds) s" })"
        )
        // Every byte came from the origin: it sent at least what the viewers received.
        #expect(report.bytes > 0)
        #expect(stack.origin.counters.bytes >= report.bytes)
        await stack.stop()
    }

    /// The origin goes away mid-stream: players report errors and stalls, and nothing hangs.
    ///
    /// Once the origin is gone (1.5 s after the load starts) a player gets at most what the cache
    /// stored, up to the live edge of that moment, and it plays three segments (1.5 s) plus its
    /// startup time behind the edge: every player that started runs dry about 3.5 s after the
    /// load starts plus its startup time (under 1 s here), and stalls if it still watches then.
    /// Players watch for 8 s: the rest is a safety margin for a late close or a slow start on a
    /// busy machine. (They watched 3 s: the first arrivals ran dry 0.02-0.25 s before they left,
    /// and under load after it, without a stall.)
    @Test func originLostMidStreamIsCountedAsStallsAndErrors() async throws {
        let stack = try await TestStack(octet: 162, origin: DemoOriginConfiguration(segmentDuration: 0.5, windowSegments: 6))
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.98.0/24"], channels: 1, profile: .constant(10, sites: 1),
                duration: 0.5, watch: 8...8, player: PlayerConfiguration(startupBuffer: 1, maxBuffer: 1.5, bitrate: 1_000_000)
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let started = Date()
        async let report = load.generate()
        try await Task.sleep(for: .milliseconds(1500))
        await stack.origin.close()
        let closed = Date().timeIntervalSince(started)
        let result = await report
        // Nothing hangs: the players give up on their own (a safety margin, not a speed claim).
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(result.viewers >= 1)
        #expect(result.withErrors == result.viewers)
        let playing = result.results.filter { $0.startupDelay != nil }
        #expect(
            playing.allSatisfy { $0.stalls >= 1 && $0.stallSeconds > 0 },
            "origin closed at \(closed) s; \(playing.map { "arrival \($0.arrival) s: \($0.stalls) stalls, \($0.stallSeconds) s of \($0.watchSeconds) s" })"
        )
        await stack.stop()
    }
}
