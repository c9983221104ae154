@testable import ElasticControl
import Foundation
import MediaOrigin
import NIOCore
import NIOHTTP1
import NIOPosix
import PlayerLoad
import Testing

/// Players through the router, caches and origin (MINICACHE_SLOW_TESTS=1).
struct EndToEndTests {
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

    @Test(.enabled(if: TestEnvironment.slow, "needs MINICACHE_SLOW_TESTS=1"))
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
        let allStopped = await TestStack.eventually(timeout: 20) { stack.controller.liveInstances().isEmpty }
        #expect(allStopped)
        #expect(stack.controller.events().filter { $0.kind == "stop" }.count == started.count)
        await stack.stop()
    }
}
