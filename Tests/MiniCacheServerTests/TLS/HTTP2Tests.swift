import Foundation
import MiniCacheServer
import MiniCacheTesting
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
}
