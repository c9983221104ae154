import Foundation
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import Testing

/// HTTP/2 over TLS: the same answers as HTTP/1.1 from the same responders, flow control for large
/// bodies, and the advertised limits.
@Suite(.serialized) struct HTTP2Tests {
    /// An h2 connection after the prefaces and SETTINGS.
    static func connect(_ server: TestServer, _ fixture: TLSFixture, settings: [(UInt16, UInt32)] = []) async throws -> TLSTestClient {
        let client = try await TLSTestClient.connect(port: server.tlsPort, alpn: ["h2"], trust: try fixture.trustRoots())
        try #require(client.negotiatedProtocol == "h2", "ALPN: \(client.negotiatedProtocol ?? "none"), \(client.handshakeError ?? "")")
        try await client.send(H2Wire.start(settings))
        return client
    }

    /// Sends `bytes` and waits until the streams `ids` have ended (or were reset).
    static func exchange(_ client: TLSTestClient, _ bytes: [UInt8], streams ids: [UInt32]) async throws -> [UInt32: H2Wire.Response] {
        try await client.send(bytes)
        await client.wait { received in
            let responses = H2Wire.responses(in: received)
            return ids.allSatisfy { responses[$0]?.ended == true || responses[$0]?.reset != nil }
        }
        return H2Wire.responses(in: client.received)
    }

    @Test("h2 answers GET, HEAD, ranges, conditionals and misses as HTTP/1.1 does (RFC 9113 §8.3)")
    func sameAnswersAsHTTP1() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            let etag = try await TestConnection.get(port: server.port, "/small.bin").header("ETag")!
            var wire = H2Wire()
            let requests: [(UInt32, String, String, [(String, String)], [String])] = [
                (1, "GET", "/small.bin", [], []),
                (3, "HEAD", "/small.bin", [], []),
                (5, "GET", "/small.bin", [("range", "bytes=0-99")], ["Range: bytes=0-99"]),
                (7, "GET", "/small.bin", [("if-none-match", etag)], ["If-None-Match: \(etag)"]),
                (9, "GET", "/missing", [], []),
                (11, "GET", "/page.html.gz", [], []),
                (13, "GET", "/small.bin", [("range", "bytes=0-9,20-29")], ["Range: bytes=0-9,20-29"]),
                (15, "GET", "/small.bin", [("if-match", "\"nope\"")], ["If-Match: \"nope\""]),
                // Values with spaces, as h2load, nghttp and browsers send them.
                (
                    17, "GET", "/small.bin", [("accept-encoding", "gzip, deflate"), ("user-agent", "h2load nghttp2/1.52.0")],
                    ["Accept-Encoding: gzip, deflate", "User-Agent: h2load nghttp2/1.52.0"]
                ),
            ]
            var bytes: [UInt8] = []
            for (id, method, path, fields, _) in requests { bytes += wire.request(path, stream: id, method: method, extra: fields) }
            let responses = try await Self.exchange(client, bytes, streams: requests.map(\.0))
            for (id, method, path, _, lines) in requests {
                let h2 = try #require(responses[id], "stream \(id)")
                let h1 = try await TestConnection.get(port: server.port, path, headers: lines, method: method)
                #expect(h2.status == h1.status, "\(method) \(path)")
                #expect(h2.body == h1.body, "\(method) \(path)")
                for name in ["content-length", "content-type", "etag", "last-modified", "content-range", "content-encoding", "accept-ranges", "server"] {
                    #expect(h2.field(name) == h1.header(name), "\(method) \(path): \(name)")
                }
                #expect(h2.field("date") != nil)
                #expect(h2.field("connection") == nil)
            }
        }
    }

    @Test("a large body waits for the client's flow-control window (RFC 9113 §5.2)")
    func flowControl() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            try await client.send(wire.request("/large.bin", stream: 1))
            // The default windows are 65,535 bytes: exactly that much comes, then nothing.
            await client.wait { (H2Wire.responses(in: $0)[1]?.body.count ?? 0) >= 65535 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(H2Wire.responses(in: client.received)[1]?.body.count == 65535)
            #expect(H2Wire.responses(in: client.received)[1]?.ended == false)
            let total = UInt32(3 << 20)
            try await client.send(H2Wire.windowUpdate(stream: 0, total) + H2Wire.windowUpdate(stream: 1, total))
            await client.wait { H2Wire.responses(in: $0)[1]?.ended == true }
            let response = try #require(H2Wire.responses(in: client.received)[1])
            #expect(response.status == 200)
            #expect(response.body == TestVolume.bytes(3 << 20, seed: 3))
        }
    }

    @Test("DATA after the client's END_STREAM on a stream still answered is a stream error STREAM_CLOSED; the connection goes on (RFC 9113 §5.1)")
    func dataAfterEndStream() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            // The body fills the default windows, so the stream stays open on the server's side.
            try await client.send(wire.request("/large.bin", stream: 1))
            await client.wait { (H2Wire.responses(in: $0)[1]?.body.count ?? 0) >= 65535 }
            try await client.send(H2Wire.frame(.data, stream: 1, [0]))
            await client.wait { H2Wire.responses(in: $0)[1]?.reset != nil }
            #expect(H2Wire.responses(in: client.received)[1]?.reset == 5)
            let responses = try await Self.exchange(client, H2Wire.windowUpdate(stream: 0, 1 << 20) + wire.request("/small.bin", stream: 3), streams: [3])
            #expect(responses[3]?.status == 200)
            #expect(H2Wire.goAwayCode(in: client.received) == nil)
        }
    }

    @Test("DATA after the client's own RST_STREAM gets RST_STREAM STREAM_CLOSED; HEADERS on a stream it skipped ends the connection with PROTOCOL_ERROR (RFC 9113 §5.1, §5.1.1)")
    func closedAndSkippedStreams() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            let fields = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/small.bin")]
            try await client.send(
                H2Wire.frame(.headers, flags: H2Wire.endHeaders, stream: 1, wire.block(fields)) + H2Wire.rstStream(stream: 1)
                    + H2Wire.frame(.data, stream: 1, [0]))
            await client.wait { H2Wire.responses(in: $0)[1]?.reset != nil }
            #expect(H2Wire.responses(in: client.received)[1]?.reset == 5)
            let responses = try await Self.exchange(client, wire.request("/small.bin", stream: 5), streams: [5])
            #expect(responses[5]?.status == 200)
            try await client.send(wire.request("/small.bin", stream: 3))
            #expect(await client.waitForClose())
            #expect(H2Wire.goAwayCode(in: client.received) == 1)
            #expect(H2Wire.responses(in: client.received)[3] == nil)
        }
    }

    @Test("a request whose content-length is not the length of its DATA is malformed: 400, never answered as if it were right (RFC 9113 §8.1.1)")
    func contentLengthMismatch() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            var bytes: [UInt8] = []
            for (stream, length) in [(UInt32(1), "5"), (3, "3"), (5, "0")] {
                let fields = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/small.bin"), ("content-length", length)]
                bytes += H2Wire.frame(.headers, flags: H2Wire.endHeaders, stream: stream, wire.block(fields))
                bytes += H2Wire.frame(.data, flags: H2Wire.endStream, stream: stream, [1, 2, 3])
            }
            let responses = try await Self.exchange(client, bytes, streams: [1, 3, 5])
            #expect(responses[1]?.status == 400)
            #expect(responses[3]?.status == 200)
            #expect(responses[5]?.status == 400)
        }
    }

    @Test("malformed requests: pseudo-header fields in trailers get RST_STREAM PROTOCOL_ERROR, a request without :scheme 400; plain trailers end the request (RFC 9113 §8.1, §8.3)")
    func malformedRequests() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            let fields = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/small.bin")]
            var bytes: [UInt8] = []
            for (stream, trailer) in [(UInt32(1), ("x-checksum", "1")), (3, (":path", "/other"))] {
                bytes += H2Wire.frame(.headers, flags: H2Wire.endHeaders, stream: stream, wire.block(fields))
                bytes += H2Wire.frame(.headers, flags: H2Wire.endHeaders | H2Wire.endStream, stream: stream, wire.block([trailer]))
            }
            bytes += H2Wire.frame(.headers, flags: H2Wire.endHeaders | H2Wire.endStream, stream: 5, wire.block(fields.filter { $0.0 != ":scheme" }))
            let responses = try await Self.exchange(client, bytes, streams: [1, 3, 5])
            #expect(responses[1]?.status == 200)
            #expect(responses[3]?.reset == 1)
            #expect(responses[3]?.status == nil)
            #expect(responses[5]?.status == 400)
        }
    }

    @Test("a connection that opens no stream within the header timeout gets GOAWAY NO_ERROR and is closed")
    func headerTimeout() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            // PING is answered but opens no stream; the header timeout is 2 s, 15 s the safety margin.
            try await client.send(H2Wire.frame(.ping, stream: 0, [UInt8](repeating: 0, count: 8)))
            #expect(await client.waitForClose(timeout: 15))
            #expect(H2Wire.goAwayCode(in: client.received) == 0)
        }
    }

    @Test("SETTINGS advertise the stream and header-list limits; a stream above the limit is refused")
    func limits() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture, { $0.maxConcurrentStreams = 10 }) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            await client.wait { H2Wire.setting(3, in: $0) != nil }
            #expect(H2Wire.setting(3, in: client.received) == 10)
            #expect(H2Wire.setting(6, in: client.received) == 16384)
            var wire = H2Wire()
            // Large bodies stay open (their windows are full), so the 11th stream is one too many.
            var bytes: [UInt8] = []
            for i in 0..<11 { bytes += wire.request("/large.bin", stream: UInt32(1 + 2 * i)) }
            try await client.send(bytes)
            await client.wait { H2Wire.responses(in: $0)[21]?.reset != nil || H2Wire.goAwayCode(in: $0) != nil }
            let responses = H2Wire.responses(in: client.received)
            // RFC 9113 §5.1.2 allows either: a stream error REFUSED_STREAM, or (NIOHTTP2's
            // choice) a connection error PROTOCOL_ERROR; the stream is never answered.
            let refused = responses[21]?.reset == 7 || H2Wire.goAwayCode(in: client.received) == 1
            #expect(refused, "reset: \(String(describing: responses[21]?.reset)), goaway: \(String(describing: H2Wire.goAwayCode(in: client.received)))")
            #expect(responses[21]?.status == nil)
            for i in 0..<10 { #expect(responses[UInt32(1 + 2 * i)]?.status == 200) }
        }
    }

    @Test("a request body is forwarded whole, and a request over the header-list limit is refused")
    func requestBodyAndHeaderLimit() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            // Without an origin, other methods are 405 as in HTTP/1.1; the body is read and dropped.
            let headers = H2Wire.frame(
                .headers, flags: H2Wire.endHeaders, stream: 1,
                wire.block([(":method", "POST"), (":scheme", "https"), (":authority", "localhost"), (":path", "/small.bin")]))
            let data = H2Wire.frame(.data, flags: H2Wire.endStream, stream: 1, Array(repeating: 65, count: 1000))
            let posted = try await Self.exchange(client, headers + data, streams: [1])
            #expect(posted[1]?.status == 405)
            #expect(posted[1]?.field("allow") == "GET, HEAD")
            let big = wire.request("/small.bin", stream: 3, extra: [("x-big", String(repeating: "a", count: 20000))])
            try await client.send(big)
            await client.wait { H2Wire.responses(in: $0)[3] != nil || H2Wire.goAwayCode(in: $0) != nil || client.isClosed }
            #expect(H2Wire.responses(in: client.received)[3]?.status != 200)
        }
    }

    @Test("Expect: 100-continue gets an interim 100 before the body is sent; a request that will be refused is answered at once (RFC 9110 §10.1.1)")
    func expectContinue() async throws {
        let origin = try await TestOrigin { request, _ in [.send(TestOrigin.response(body: "got \(request.body.count) bytes"))] }
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TLSServingTests.withServer(fixture, volume: volume.path, server: { $0.origin = origin.url }) { server in
            let client = try await Self.connect(server, fixture)
            defer { Task { await client.close() } }
            var wire = H2Wire()
            func post(_ stream: UInt32, length: String) -> [UInt8] {
                let fields = [
                    (":method", "POST"), (":scheme", "https"), (":authority", "localhost"), (":path", "/upload"),
                    ("content-length", length), ("expect", "100-continue"),
                ]
                return H2Wire.frame(.headers, flags: H2Wire.endHeaders, stream: stream, wire.block(fields))
            }
            // The body is held back until the server asks for it.
            try await client.send(post(1, length: "5"))
            await client.wait { H2Wire.responses(in: $0)[1]?.status != nil }
            #expect(H2Wire.responses(in: client.received)[1]?.status == 100)
            #expect(H2Wire.responses(in: client.received)[1]?.ended == false)
            #expect(origin.requests.isEmpty)
            let responses = try await Self.exchange(client, H2Wire.frame(.data, flags: H2Wire.endStream, stream: 1, Array("hello".utf8)), streams: [1])
            let statuses = responses[1]?.fields.filter { $0.0 == ":status" }.map(\.1)
            #expect(statuses == ["100", "200"])
            #expect(responses[1]?.body == Array("got 5 bytes".utf8))
            #expect(origin.requests.first?.body == Array("hello".utf8))
            // Over the cache's body limit: 413 at once, no 100, and the stream is closed.
            let refused = try await Self.exchange(client, post(3, length: "1000000000000"), streams: [3])
            #expect(refused[3]?.status == 413)
            #expect(refused[3]?.fields.filter { $0.0 == ":status" }.count == 1)
            #expect(origin.requests.count == 1)
        }
        await origin.stop()
    }

    @Test("the client's settings are followed: header table size, initial window, frame size; PING is answered")
    func clientSettings() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            // HEADER_TABLE_SIZE 0, INITIAL_WINDOW_SIZE 100,000, MAX_FRAME_SIZE 32,768.
            let client = try await Self.connect(server, fixture, settings: [(1, 0), (4, 100_000), (5, 32768)])
            defer { Task { await client.close() } }
            var wire = H2Wire()
            let ping: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
            try await client.send(H2Wire.frame(.ping, stream: 0, ping) + wire.request("/large.bin", stream: 1) + wire.request("/small.bin", stream: 3))
            await client.wait { received in
                let responses = H2Wire.responses(in: received)
                return responses[3]?.status != nil && (responses[1]?.body.count ?? 0) + (responses[3]?.body.count ?? 0) >= 65535
            }
            try await Task.sleep(for: .milliseconds(200))
            let frames = H2Wire.frames(in: client.received)
            #expect(frames.contains { $0.kind == .ping && $0.flags & H2Wire.ack != 0 && $0.payload == ping })
            // The connection's window (65,535) is the limit, in frames of up to 32,768 bytes.
            let data = frames.filter { $0.kind == .data && $0.stream == 1 }
            #expect(data.allSatisfy { $0.payload.count <= 32768 })
            #expect(data.contains { $0.payload.count > 16384 })
            let responses = H2Wire.responses(in: client.received)
            #expect(responses[3]?.status == 200)
            #expect(responses[1]?.status == 200)
            // The small body waits for the connection window as the large one does.
            #expect((responses[1]?.body.count ?? 0) + (responses[3]?.body.count ?? 0) == 65535)
            // The connection's window opens: the small body ends, the large one stops at its
            // stream's window (100,000 bytes) until that opens too.
            try await client.send(H2Wire.windowUpdate(stream: 0, UInt32(4 << 20)))
            await client.wait { H2Wire.responses(in: $0)[3]?.ended == true && (H2Wire.responses(in: $0)[1]?.body.count ?? 0) >= 100_000 }
            try await Task.sleep(for: .milliseconds(200))
            #expect(H2Wire.responses(in: client.received)[1]?.body.count == 100_000)
            try await client.send(H2Wire.windowUpdate(stream: 1, UInt32(4 << 20)))
            await client.wait { H2Wire.responses(in: $0)[1]?.ended == true }
            let done = H2Wire.responses(in: client.received)
            #expect(done[1]?.body == TestVolume.bytes(3 << 20, seed: 3))
            #expect(done[3]?.body == TestVolume.bytes(1024))
        }
    }
}
