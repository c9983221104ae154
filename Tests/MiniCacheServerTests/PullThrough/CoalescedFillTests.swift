import NIOCore
import MiniCacheTesting
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// Requests that join a fill in flight, over real sockets: what `X-Cache` says and the `Age` they
/// carry (RFC 9111 §5.1: a response not generated for the request carries `Age`).
struct CoalescedFillTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// An origin whose response stops after `prefix` body bytes until `gate` opens.
    static func gatedOrigin(_ gate: Gate, body: String, prefix: Int, headers: [String]) async throws -> TestOrigin {
        try await TestOrigin(group: Self.group) { _, _ in
            let response = TestOrigin.response(body: body, headers: headers)
            let cut = response.index(response.endIndex, offsetBy: prefix - body.utf8.count)
            return [.send(String(response[..<cut])), .waitFor(gate), .send(String(response[cut...]))]
        }
    }

    /// Waits until `count` requests joined a fill.
    static func waitForCoalesced(_ server: TestServer, _ count: Int) async throws {
        for _ in 0..<1000 where server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) < count {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) >= count)
    }

    @Test("RFC 9111 §5.1: a late joiner of a fill gets X-Cache: COALESCED and an Age that counts the time since the origin answered")
    func lateJoinerGetsAge() async throws {
        let gate = Gate()
        let body = String(repeating: "s", count: 40_000)
        let origin = try await Self.gatedOrigin(gate, body: body, prefix: 10_000, headers: ["Cache-Control: max-age=600", "Age: 30"])
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let first = try await TestConnection(port: server.port)
            #expect(await first.send("GET /live/seg7.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
            for _ in 0..<1000 where origin.requestCount < 1 { try await Task.sleep(for: .milliseconds(10)) }
            // The joiner arrives while the fill is still in flight, two seconds after its head.
            try await Task.sleep(for: .seconds(2))
            let late = try await TestConnection(port: server.port)
            #expect(await late.send("GET /live/seg7.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
            try await Self.waitForCoalesced(server, 1)
            gate.open()
            let miss = try #require(try await first.readResponse())
            let joined = try #require(try await late.readResponse())
            #expect(miss.header("X-Cache") == "MISS")
            #expect(miss.header("Age") == "30")
            #expect(miss.body.count == 40_000)
            #expect(joined.status == 200)
            #expect(joined.header("X-Cache") == "COALESCED")
            #expect(joined.text == body)
            // 30 from the origin plus at least one second resident in this cache.
            let age = try #require(joined.header("Age").flatMap { Int($0) })
            #expect(age >= 31)
            #expect(joined.headers.filter { $0.0.lowercased() == "age" }.count == 1)
            try await PullThroughTests.waitForStored(server, 1)
            let hit = try await TestConnection.get(port: server.port, "/live/seg7.ts")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.header("Age").flatMap { Int($0) }.map { $0 >= 31 } == true)
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("a joiner gets Age even when the origin sent none; the request that started the fill is a MISS without one")
    func joinerOfFreshResponseGetsAgeZeroOrMore() async throws {
        let gate = Gate()
        let body = String(repeating: "f", count: 20_000)
        let origin = try await Self.gatedOrigin(gate, body: body, prefix: 1_000, headers: ["Cache-Control: max-age=600"])
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let first = try await TestConnection(port: server.port)
            #expect(await first.send("GET /vod/movie.mp4 HTTP/1.1\r\nHost: test\r\n\r\n"))
            for _ in 0..<1000 where origin.requestCount < 1 { try await Task.sleep(for: .milliseconds(10)) }
            var joiners: [TestConnection] = []
            for _ in 0..<3 { joiners.append(try await TestConnection(port: server.port)) }
            #expect(await joiners[0].send("GET /vod/movie.mp4 HTTP/1.1\r\nHost: test\r\n\r\n"))
            #expect(await joiners[1].send("GET /vod/movie.mp4 HTTP/1.1\r\nHost: test\r\nRange: bytes=100-199\r\n\r\n"))
            #expect(await joiners[2].send("HEAD /vod/movie.mp4 HTTP/1.1\r\nHost: test\r\n\r\n"))
            try await Self.waitForCoalesced(server, 3)
            gate.open()
            let miss = try #require(try await first.readResponse())
            #expect(miss.header("X-Cache") == "MISS")
            #expect(miss.header("Age") == nil)
            let whole = try #require(try await joiners[0].readResponse())
            #expect(whole.header("X-Cache") == "COALESCED")
            #expect(whole.header("Age").flatMap { Int($0) }.map { $0 >= 0 } == true)
            #expect(whole.body.count == 20_000)
            let range = try #require(try await joiners[1].readResponse())
            #expect(range.status == 206)
            #expect(range.header("X-Cache") == "COALESCED")
            #expect(range.header("Age") != nil)
            #expect(range.header("Content-Range") == "bytes 100-199/20000")
            #expect(range.body.count == 100)
            let head = try #require(try await joiners[2].readResponse(head: true))
            #expect(head.status == 200)
            #expect(head.header("X-Cache") == "COALESCED")
            #expect(head.header("Age") != nil)
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }
}
