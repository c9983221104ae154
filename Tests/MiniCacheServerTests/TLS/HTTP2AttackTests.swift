import Foundation
import MiniCacheServer
import Testing

/// The known HTTP/2 attacks are refused (the connection gets GOAWAY and closes, or the stream is
/// reset), and other connections are still served.
@Suite(.serialized) struct HTTP2AttackTests {
    static let enhanceYourCalm: UInt32 = 0xb

    /// After an attack: a new connection is answered as usual.
    static func stillServes(_ server: TestServer, _ fixture: TLSFixture) async throws {
        let client = try await HTTP2Tests.connect(server, fixture)
        defer { Task { await client.close() } }
        var wire = H2Wire()
        let responses = try await HTTP2Tests.exchange(client, wire.request("/small.bin", stream: 1), streams: [1])
        #expect(responses[1]?.status == 200)
        #expect(responses[1]?.body == TestVolume.bytes(1024))
    }

    @Test("rapid reset (CVE-2023-44487): streams opened and reset at once end in GOAWAY ENHANCE_YOUR_CALM")
    func rapidReset() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await HTTP2Tests.connect(server, fixture)
            var wire = H2Wire()
            var bytes: [UInt8] = []
            for i in 0..<400 {
                let id = UInt32(1 + 2 * i)
                bytes += wire.request("/large.bin", stream: id) + H2Wire.rstStream(stream: id)
            }
            try? await client.send(bytes)
            await client.wait { H2Wire.goAwayCode(in: $0) != nil }
            #expect(H2Wire.goAwayCode(in: client.received) == Self.enhanceYourCalm)
            #expect(await client.waitForClose())
            try await Self.stillServes(server, fixture)
        }
    }

    @Test("CONTINUATION flood: a header block that never ends is cut off (CVE-2024-27316 class)")
    func continuationFlood() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await HTTP2Tests.connect(server, fixture)
            var wire = H2Wire()
            var bytes = H2Wire.frame(.headers, stream: 1, wire.block([(":method", "GET"), (":scheme", "https"), (":path", "/")]))
            for i in 0..<200 { bytes += H2Wire.frame(.continuation, stream: 1, wire.block([("x-pad-\(i)", "v")])) }
            try? await client.send(bytes)
            #expect(await client.waitForClose())
            #expect(H2Wire.goAwayCode(in: client.received) != nil)
            #expect(H2Wire.responses(in: client.received)[1]?.status == nil)
            try await Self.stillServes(server, fixture)
        }
    }

    @Test("HPACK bomb: a few bytes that decode to more than the header-list limit are refused")
    func hpackBomb() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await HTTP2Tests.connect(server, fixture)
            var wire = H2Wire()
            // A 3,000-byte field enters the dynamic table; then one byte per copy of it.
            let value = String(repeating: "b", count: 3000)
            _ = try await HTTP2Tests.exchange(client, wire.request("/small.bin", stream: 1, extra: [("x-bomb", value)]), streams: [1])
            let bomb = wire.request("/small.bin", stream: 3, extra: Array(repeating: ("x-bomb", value), count: 100))
            #expect(bomb.count < 1000)
            try? await client.send(bomb)
            await client.wait { H2Wire.responses(in: $0)[3] != nil || H2Wire.goAwayCode(in: $0) != nil || client.isClosed }
            #expect(H2Wire.responses(in: client.received)[3]?.status != 200)
            try await Self.stillServes(server, fixture)
        }
    }

    @Test("SETTINGS flood: more control frames than the rate limit end in GOAWAY ENHANCE_YOUR_CALM")
    func settingsFlood() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let client = try await HTTP2Tests.connect(server, fixture)
            var bytes: [UInt8] = []
            for _ in 0..<1000 { bytes += H2Wire.settings([(4, 65535)]) }
            try? await client.send(bytes)
            await client.wait { H2Wire.goAwayCode(in: $0) != nil }
            #expect(H2Wire.goAwayCode(in: client.received) == Self.enhanceYourCalm)
            #expect(await client.waitForClose())
            try await Self.stillServes(server, fixture)
        }
    }
}
