import MiniCacheTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// Interim (1xx) responses through the cache, over real sockets (RFC 9110 §15.2): a `103` from
/// the origin reaches HTTP/1.1 clients before the final response, never HTTP/1.0 ones; it is never
/// stored and never taken for the final response; `Expect: 100-continue` is answered.
struct InterimResponseTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    static let earlyHints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"

    /// An origin that answers every request with a `103`, then after a moment its `200`.
    static func hintingOrigin(gate: Gate? = nil) async throws -> TestOrigin {
        try await TestOrigin(group: Self.group) { request, _ in
            let final = TestOrigin.response(body: "page of \(request.path)", headers: ["Cache-Control: max-age=600", "Content-Type: text/html"])
            return [.send(Self.earlyHints), gate.map { .waitFor($0) } ?? .wait(.milliseconds(50)), .send(final)]
        }
    }

    @Test("RFC 9110 §15.2: an origin's 103 reaches an HTTP/1.1 client before the 200; only the 200 is stored and served later")
    func earlyHintsAreRelayedNotStored() async throws {
        let origin = try await Self.hintingOrigin()
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /index.html HTTP/1.1\r\nHost: test\r\n\r\n"))
            let hints = try #require(try await connection.readResponse())
            #expect(hints.status == 103)
            #expect(hints.header("Link") == "</style.css>; rel=preload; as=style")
            #expect(hints.header("Content-Length") == nil)
            let final = try #require(try await connection.readResponse())
            #expect(final.status == 200)
            #expect(final.text == "page of /index.html")
            #expect(final.header("X-Cache") == "MISS")
            try await PullThroughTests.waitForStored(server, 1)
            // The stored response is the final one: a hit starts with the 200.
            let hit = try await TestConnection.get(port: server.port, "/index.html")
            #expect(hit.status == 200)
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == "page of /index.html")
            #expect(hit.header("Link") == nil)
            // The connection that saw the 103 carries the next request as usual.
            #expect(await connection.send("GET /index.html HTTP/1.1\r\nHost: test\r\n\r\n"))
            #expect(try await connection.readResponse()?.status == 200)
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 9110 §15.2: a server never sends a 1xx to an HTTP/1.0 client; it gets the 200 only")
    func noInterimResponsesForHTTP10() async throws {
        let origin = try await Self.hintingOrigin()
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /old.html HTTP/1.0\r\nHost: test\r\n\r\n"))
            let response = try #require(try await connection.readResponse())
            #expect(response.status == 200)
            #expect(response.text == "page of /old.html")
        }
        await origin.stop()
    }

    @Test("a joiner of a fill in flight gets the shared 200 without the 103 sent for the request that started it")
    func joinersGetNoInterimResponses() async throws {
        let gate = Gate()
        let origin = try await Self.hintingOrigin(gate: gate)
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let first = try await TestConnection(port: server.port)
            #expect(await first.send("GET /live/seg1.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
            #expect(try await first.readResponse()?.status == 103)
            let joiner = try await TestConnection(port: server.port)
            #expect(await joiner.send("GET /live/seg1.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
            for _ in 0..<1000 where server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) < 1 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) == 1)
            gate.open()
            #expect(try await first.readResponse()?.status == 200)
            let joined = try #require(try await joiner.readResponse())
            #expect(joined.status == 200)
            #expect(joined.text == "page of /live/seg1.ts")
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 9110 §10.1.1: a request with Expect: 100-continue gets 100 before it sends its body, and the origin's own 100 is not relayed")
    func expectContinueIsAnswered() async throws {
        let origin = try await TestOrigin(group: Self.group) { request, _ in
            [.send("HTTP/1.1 100 Continue\r\n\r\n"), .send(TestOrigin.response(body: "got \(request.body.count) bytes"))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
            // The body is held back until the server asks for it.
            let proceed = try #require(try await connection.readResponse())
            #expect(proceed.status == 100)
            #expect(await connection.send("hello"))
            let final = try #require(try await connection.readResponse())
            #expect(final.status == 200)
            #expect(final.text == "got 5 bytes")
            #expect(origin.requests.first?.body == Array("hello".utf8))
            // Nothing else was sent before the next response (no relayed 100).
            #expect(await connection.send("GET /after HTTP/1.1\r\nHost: test\r\n\r\n"))
            #expect(try await connection.readResponse()?.status == 200)
        }
        await origin.stop()
    }

    static let brokenInterim: [(String, String)] = [
        ("unsolicited-101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
        ("endless-103", String(repeating: Self.earlyHints, count: 17) + TestOrigin.response(body: "late", headers: ["Cache-Control: max-age=600"])),
    ]

    @Test("an origin that switches protocols unasked or never stops sending 1xx gets the viewer a 502; nothing is stored", arguments: Self.brokenInterim.map(\.0))
    func brokenInterimResponsesAreBadGateway(_ name: String) async throws {
        let answer = try #require(Self.brokenInterim.first { $0.0 == name }?.1)
        let origin = try await TestOrigin(group: Self.group) { _, _ in [.send(answer)] }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /\(name) HTTP/1.1\r\nHost: test\r\n\r\n"))
            var response = try #require(try await connection.readResponse())
            while response.status == 103 { response = try #require(try await connection.readResponse()) }
            #expect(response.status == 502)
            #expect(server.server.context.cache!.statistics.stored == 0)
        }
        await origin.stop()
    }
}
