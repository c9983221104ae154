@testable import ElasticControl
import Foundation
import MediaOrigin
import NIOCore
import NIOHTTP1
import Testing

/// Faults with real child processes: crashes, instances that never become ready, a dead origin.
struct FaultTests {
    @Test func killedInstanceLeavesTheRouterAndIsReplaced() async throws {
        let stack = try await TestStack(octet: 131)
        let client = stack.client
        let first = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.131.5")
        let victim = try #require(first.headers.first(name: "X-ECDN-Instance"))
        let pid = try #require(stack.backend.pid(of: victim))
        kill(pid, SIGKILL)
        // The router stops sending viewers to the dead instance (how fast: scripts/measure-ecdn.sh).
        let movedAway = await TestStack.eventually {
            let r = try? await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.131.6")
            return r.map { $0.headers.first(name: "X-ECDN-Instance") != victim } ?? false
        }
        #expect(movedAway)
        // The controller replaces it, and the replacement serves.
        let replaced = await TestStack.eventually {
            stack.controller.liveInstances().contains { $0.state == .ready && $0.id != victim }
        }
        #expect(replaced)
        let later = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.131.7")
        let replacement = try #require(later.headers.first(name: "X-ECDN-Instance"))
        #expect(replacement != victim)
        let location = try #require(later.headers.first(name: "Location"))
        let answer = try await client.get(location)
        #expect(answer.status == 200)
        let events = stack.controller.events()
        #expect(events.contains { $0.kind == "crash" && $0.instance == victim && $0.message.contains("signal 9") })
        #expect(events.contains { $0.kind == "replace" })
        let record = try await stack.controller.store.instances().first { $0.id == victim }
        #expect(record?.state == .stopped)
        await stack.stop()
    }

    /// The router holds a viewer for a booting cache up to its wait, not until the controller
    /// gives up on the cache (a minute here, so that the viewer is answered first on any machine).
    @Test func viewerOfACacheThatDoesNotBecomeReadyIsSentToTheOriginAfterTheRoutersWait() async throws {
        let (work, sleeper) = try Self.sleeper()
        let stack = try await TestStack(octet: 132, controller: {
            $0.readyTimeout = 60
            $0.routerWait = 0.2
        }, minicache: sleeper)
        let response = try await stack.client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.132.5")
        #expect(!stack.controller.events().contains { $0.kind == "not-ready" })
        #expect(stack.controller.liveInstances().map(\.state) == [.starting])
        #expect(response.headers.first(name: "Location") == stack.origin.url + "/live/1/index.m3u8")
        #expect(response.headers.first(name: "X-ECDN-Origin-Reason") == "cache not ready in time")
        let fromOrigin = try await stack.client.get(try #require(response.headers.first(name: "Location")))
        #expect(fromOrigin.status == 200)
        await stack.stop()
        try? FileManager.default.removeItem(atPath: work)
    }

    @Test func instanceThatNeverBecomesReadyIsStoppedAndReported() async throws {
        let (work, sleeper) = try Self.sleeper()
        let stack = try await TestStack(octet: 135, controller: {
            $0.readyTimeout = 2
            $0.routerWait = 0.2
        }, minicache: sleeper)
        let response = try await stack.client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.135.5")
        #expect(response.headers.first(name: "Location") == stack.origin.url + "/live/1/index.m3u8")
        let reported = await TestStack.eventually {
            stack.controller.events().contains { $0.kind == "not-ready" && $0.message.contains("never became ready") }
        }
        #expect(reported)
        let records = try await stack.controller.store.instances()
        #expect(records.count == 1)
        #expect(records.first?.state == .stopped)
        #expect(records.first?.reason?.contains("never became ready") == true)
        // The sleeping child is gone.
        #expect(stack.backend.pid(of: records.first?.id ?? "") == nil)
        await stack.stop()
        try? FileManager.default.removeItem(atPath: work)
    }

    /// A `minicache` that never becomes ready, in a work folder of its own.
    private static func sleeper() throws -> (work: String, path: String) {
        let work = TestEnvironment.temporaryDirectory("sleeper")
        let sleeper = work + "/minicache"
        try "#!/bin/sh\nexec sleep 60\n".write(toFile: sleeper, atomically: true, encoding: .utf8)
        chmod(sleeper, 0o755)
        return (work, sleeper)
    }

    @Test func originDownViewersGetErrorsQuickly() async throws {
        let stack = try await TestStack(octet: 133)
        let client = stack.client
        // Warm a cache at the site, then take the origin down.
        let first = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.133.5")
        let cacheLocation = try #require(first.headers.first(name: "Location"))
        await stack.origin.close()
        // Through the cache: an error status (502/504), not a hang.
        let viaCache = try await client.get(cacheLocation.replacingOccurrences(of: "/live/1/", with: "/live/3/"))
        #expect(viaCache.status >= 400)
        // Straight to the origin (outside every site): a refused connection at once.
        let direct = try await client.get(stack.router.url + "/live/1/index.m3u8", from: "127.0.0.1")
        let location = try #require(direct.headers.first(name: "Location"))
        await #expect(throws: ControlError.self) { try await client.get(location) }
        await stack.stop()
    }
}
