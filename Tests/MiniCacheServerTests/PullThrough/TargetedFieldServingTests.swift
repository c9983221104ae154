import MiniCacheTesting
import NIOPosix
import Testing

@testable import MiniCacheServer

/// `CDN-Cache-Control` (RFC 9213) and, behind `--surrogate-control`, `Surrogate-Control` end to
/// end: a real origin, a real volume, the server on real sockets.
struct TargetedFieldServingTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    @Test("RFC 9213: CDN-Cache-Control wins over Cache-Control: no-store, and no client sees it, on the miss or the hit")
    func cdnCacheControlIsObeyedAndNotForwarded() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "segment", headers: ["Cache-Control: no-store", "CDN-Cache-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let miss = try await TestConnection.get(port: server.port, "/live/seg1.ts")
            #expect(miss.text == "segment")
            #expect(miss.header("X-Cache") == "MISS")
            #expect(miss.header("CDN-Cache-Control") == nil)
            #expect(miss.header("Cache-Control") == "no-store")
            try await PullThroughTests.waitForStored(server, 1)
            let hit = try await TestConnection.get(port: server.port, "/live/seg1.ts")
            #expect(hit.text == "segment")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.header("CDN-Cache-Control") == nil)
            #expect(hit.header("Cache-Control") == "no-store")
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 9213: CDN-Cache-Control: no-store keeps a response with Cache-Control: max-age out of the cache")
    func cdnNoStoreWins() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "x", headers: ["Cache-Control: max-age=3600", "CDN-Cache-Control: no-store"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for _ in 0..<2 {
                let response = try await TestConnection.get(port: server.port, "/a")
                #expect(response.header("X-Cache") == "MISS")
            }
            #expect(origin.requestCount == 2)
            #expect(server.server.context.cache!.statistics.stored == 0)
        }
        await origin.stop()
    }

    @Test("Surrogate-Control is obeyed and announced only with the flag; without it, it is an ordinary field")
    func surrogateControlBehindTheFlag() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "s", headers: ["Cache-Control: no-store", "Surrogate-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let plain = try await TestConnection.get(port: server.port, "/off")
            #expect(plain.header("Surrogate-Control") == "max-age=60")
            #expect(!origin.requests[0].head.lowercased().contains("surrogate-capability"))
            #expect(server.server.context.cache!.statistics.stored == 0)
        }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)"; $0.surrogateControl = true }) { server in
            let miss = try await TestConnection.get(port: server.port, "/on")
            #expect(miss.header("Surrogate-Control") == nil)
            #expect(origin.requests[1].contains("Surrogate-Capability: minicache=\"Surrogate/1.0\""))
            try await PullThroughTests.waitForStored(server, 1)
            let hit = try await TestConnection.get(port: server.port, "/on")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(origin.requestCount == 2)
        }
        await origin.stop()
    }
}
