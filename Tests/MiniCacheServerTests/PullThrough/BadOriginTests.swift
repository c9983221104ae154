import NIOCore
import Logging
import MiniCacheTesting
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// Origins that answer badly, through the cache over real sockets: the viewer gets a clear error
/// or a cut connection, nothing partial is stored or served later, and the log and metrics say
/// which origin failed and why.
struct BadOriginTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    static let malformed: [(String, String)] = [
        ("garbage", "SMTP READY\r\n\r\n"),
        ("header-over-limit", "HTTP/1.1 200 OK\r\nX-Filler: " + String(repeating: "x", count: 128 << 10) + "\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nok"),
        ("conflicting-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\nCache-Control: max-age=60\r\n\r\nhello!!"),
    ]

    @Test("a malformed origin response gets the viewer a 502 on a connection that stays usable; nothing is stored", arguments: Self.malformed.map(\.0))
    func malformedResponseIsBadGateway(_ name: String) async throws {
        let bad = try #require(Self.malformed.first { $0.0 == name }?.1)
        let origin = try await TestOrigin(group: Self.group) { request, _ in
            request.contains("/bad") ? [.send(bad), .close] : [.send(TestOrigin.response(body: "fine", headers: ["Cache-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let log = LogRecorder()
        try await TestServer.with(volume: volume.path, logger: log.logger(level: .warning), { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /bad/\(name) HTTP/1.1\r\nHost: test\r\n\r\n"))
            let answer = try #require(try await connection.readResponse())
            #expect(answer.status == 502)
            // The viewer's connection is handled: the next request on it is answered.
            #expect(await connection.send("GET /good HTTP/1.1\r\nHost: test\r\n\r\n"))
            let next = try #require(try await connection.readResponse())
            #expect(next.status == 200)
            #expect(next.text == "fine")
            try await PullThroughTests.waitForStored(server, 1)
            #expect(server.server.context.cache!.statistics.stored == 1)
            #expect(server.server.context.stats.originErrors.load(ordering: .relaxed) >= 1)
            let failure = log.recorded.first { $0.contains("origin fetch failed") }
            #expect(failure?.contains("127.0.0.1:\(origin.port)") == true, "\(log.recorded)")
            // Asked again, the bad response is fetched again, never served from the cache.
            #expect(try await TestConnection.get(port: server.port, "/bad/\(name)").status == 502)
        }
        await origin.stop()
    }

    @Test("an invalid chunk after the head cuts the viewer's response; nothing is stored, the next viewer gets a new fetch")
    func brokenChunkCutsTheResponse() async throws {
        let broken = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=60\r\n\r\n5\r\nhello\r\nzz\r\nnot a chunk size\r\n"
        let origin = try await TestOrigin(group: Self.group) { _, index in
            index == 0 ? [.send(broken), .close] : [.send(TestOrigin.response(body: "whole", headers: ["Cache-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let log = LogRecorder()
        try await TestServer.with(volume: volume.path, logger: log.logger(level: .warning), { $0.origin = "http://127.0.0.1:\(origin.port)" }) {
            server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /live/broken.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
            // The head may already be out when the bad chunk arrives: then the only honest signal
            // is a cut connection, never a body that ends as if complete.
            let (raw, closed) = await connection.readUntilClosed()
            #expect(closed)
            let text = String(decoding: raw, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.1 502"), "\(text)")
            if text.hasPrefix("HTTP/1.1 200") { #expect(!text.hasSuffix("0\r\n\r\n"), "\(text)") }
            #expect(server.server.context.cache!.statistics.stored == 0)
            #expect(server.server.context.stats.originErrors.load(ordering: .relaxed) >= 1)
            let failure = log.recorded.first { $0.contains("origin fetch failed") }
            #expect(failure?.contains("127.0.0.1:\(origin.port)") == true, "\(log.recorded)")
            let retry = try await TestConnection.get(port: server.port, "/live/broken.ts")
            #expect(retry.status == 200)
            #expect(retry.text == "whole")
            #expect(retry.header("X-Cache") == "MISS")
            #expect(origin.requestCount == 2)
        }
        await origin.stop()
    }

    @Test("an origin that stalls mid-body: the response is cut after the upstream timeout, nothing is stored, the next viewer gets a new fetch")
    func stallMidBodyCutsTheResponse() async throws {
        let gate = Gate()
        let body = String(repeating: "s", count: 100)
        let origin = try await TestOrigin(group: Self.group) { _, index in
            if index == 0 {
                return [.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=60\r\n\r\n" + body.prefix(10)), .waitFor(gate)]
            }
            return [.send(TestOrigin.response(body: body, headers: ["Cache-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let log = LogRecorder()
        try await TestServer.with(volume: volume.path, logger: log.logger(level: .warning), {
            $0.origin = "http://127.0.0.1:\(origin.port)"
            $0.upstreamTimeout = .seconds(1)
        }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /live/stall.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
            let (raw, closed) = await connection.readUntilClosed()
            #expect(closed)
            let headEnd = try #require(TestConnection.find(Array("\r\n\r\n".utf8), in: raw))
            #expect(String(decoding: raw[..<headEnd], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            #expect(raw.count - headEnd - 4 == 10)
            #expect(server.server.context.cache!.statistics.stored == 0)
            #expect(server.server.context.stats.originErrors.load(ordering: .relaxed) >= 1)
            let failure = log.recorded.first { $0.contains("origin fetch failed") }
            #expect(failure?.contains("127.0.0.1:\(origin.port)") == true, "\(log.recorded)")
            let retry = try await TestConnection.get(port: server.port, "/live/stall.ts")
            #expect(retry.status == 200)
            #expect(retry.text == body)
            #expect(retry.header("X-Cache") == "MISS")
            #expect(origin.requestCount == 2)
        }
        gate.open()
        await origin.stop()
    }
}
