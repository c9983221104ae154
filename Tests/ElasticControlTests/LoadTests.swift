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

    /// Players outside every site are sent to the origin and play a real live stream.
    @Test func playersFollowTheRedirectAndPlayWithoutStalls() async throws {
        let stack = try await TestStack(octet: 161, origin: DemoOriginConfiguration(segmentDuration: 0.5, windowSegments: 6))
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.99.0/24"], channels: 2, profile: .constant(4, sites: 1),
                duration: 1.5, watch: 2...2.5, player: PlayerConfiguration(startupBuffer: 1, maxBuffer: 3, bitrate: 1_000_000)
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let report = await load.generate()
        #expect(report.viewers >= 1)
        #expect(report.withErrors == 0)
        #expect(report.started == report.viewers)
        #expect(report.toOrigin == report.viewers)
        #expect(report.results.allSatisfy { $0.bitrate == 1_000_000 && $0.watchSeconds > 0.5 && $0.stalls == 0 })
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
