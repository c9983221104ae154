@testable import ElasticControl
import Foundation
import MediaOrigin
import NIOCore
import NIOHTTP1
import NIOPosix
import PlayerLoad
import Testing

/// Players through the router, caches and origin: the product's main path.
struct EndToEndTests {
    /// A short run in the default suite: viewers at a cold site are sent to the cache the
    /// controller starts for them, the cache fills each segment once from the origin, and every
    /// later viewer's segments are cache hits. Viewers watch 8 s, a safety margin for their start
    /// on a busy machine (the first one waits for the cache to boot).
    @Test func viewersPlayThroughTheirSitesElasticCacheWhichFillsFromTheOrigin() async throws {
        let stack = try await TestStack(octet: 155, origin: DemoOriginConfiguration(segmentDuration: 0.5, windowSegments: 6))
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.155.0/24"], channels: 1, profile: .constant(4, sites: 1),
                duration: 1.5, watch: 8...8, player: PlayerConfiguration(startupBuffer: 1, maxBuffer: 3, bitrate: 1_000_000)
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let report = await load.generate()
        #expect(report.viewers >= 2)
        #expect(report.withErrors == 0)
        #expect(report.started == report.viewers)
        #expect(report.toCache == report.viewers)
        #expect(report.results.allSatisfy { $0.watchSeconds > 0.5 })
        // The site's cache served segments it had stored: more bytes reached the viewers than left the origin.
        #expect(report.bytes > stack.origin.counters.bytes)
        let instance = try #require(stack.controller.liveInstances().first { $0.site == "site1" })
        let status = try await stack.client.get(instance.adminURL + "/admin/status")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: status.body).utf8)) as? [String: Any])
        let cache = try #require(json["cache"] as? [String: Any])
        #expect((cache["hits"] as? Int ?? 0) > 0)
        #expect((cache["misses"] as? Int ?? 0) > 0)
        await stack.stop()
    }

    /// The long version: two sites, more viewers, a buffering-ratio bound.
    @Test(.enabled(if: TestEnvironment.slow, "a long run with players; set MINICACHE_SLOW_TESTS=1"))
    func playersAreServedByTheirSitesCachesWhichFillFromTheOrigin() async throws {
        let stack = try await TestStack(octet: 151, sites: 2)
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.151.0/24", "127.0.152.0/24"], channels: 2,
                profile: .constant(0.5, sites: 2), duration: 10, watch: 10...14
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let report = await load.generate()
        #expect(report.viewers >= 4)
        #expect(report.withErrors == 0)
        #expect(report.started == report.viewers)
        #expect(report.toCache == report.viewers)
        #expect(report.bufferingRatioMean < 0.05)
        // Viewers got more bytes than the origin sent: the caches served the rest.
        #expect(stack.origin.counters.bytes < report.bytes)
        await stack.stop()
    }

    @Test(.enabled(if: TestEnvironment.slow, "caches across two sites over several idle timeouts; set MINICACHE_SLOW_TESTS=1"))
    func cachesStartWithViewersAndStopWhenTheyLeave() async throws {
        let stack = try await TestStack(octet: 153, sites: 2) {
            $0.idleTimeout = 2
            $0.viewerLease = 1
        }
        let load = try LoadGenerator(
            configuration: LoadConfiguration(
                router: stack.router.url, sitePrefixes: ["127.0.153.0/24", "127.0.154.0/24"], channels: 1,
                profile: LoadProfile(steps: [.init(start: 0, rates: [1, 0]), .init(start: 3, rates: [0, 1])]), duration: 6, watch: 2...3
            ),
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        _ = await load.generate()
        let started = stack.controller.events().filter { $0.kind == "ready" }.map(\.site)
        #expect(Set(started) == ["site1", "site2"])
        let allStopped = await TestStack.eventually { stack.controller.liveInstances().isEmpty }
        #expect(allStopped)
        #expect(stack.controller.events().filter { $0.kind == "stop" }.count == started.count)
        await stack.stop()
    }
}
