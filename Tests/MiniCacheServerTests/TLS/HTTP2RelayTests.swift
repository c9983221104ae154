import MiniCacheTesting
import NIOCore
import Synchronization
import Testing

@testable import MiniCacheServer

/// Relayed responses over HTTP/2: a client whose flow-control window stays closed is a viewer
/// slower than the origin, and is held to the same bounds as a slow HTTP/1.1 viewer.
@Suite(.serialized) struct HTTP2RelayTests {
    static let size = 8 << 20

    static func origin() async throws -> TestOrigin {
        let body = RelayBackpressureTests.body(Self.size)
        return try await TestOrigin { _, _ in
            [.send(TestOrigin.response(body: body, headers: ["Cache-Control: max-age=60", "Content-Type: video/mp4"]))]
        }
    }

    /// A TLS cache of the 8 MiB origin (too big to store) and an h2 client connected to it.
    static func withRelay(maxRelayBacklog: Int? = nil, _ body: (TestServer, TLSTestClient) async throws -> Void) async throws {
        let origin = try await Self.origin()
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let configure: (inout ServerConfiguration) -> Void = {
            $0.origin = origin.url
            $0.maxStoredObjectSize = 1 << 20
            if let maxRelayBacklog { $0.maxRelayBacklog = maxRelayBacklog }
            $0.idleTimeout = .seconds(600)
        }
        try await TLSServingTests.withServer(fixture, volume: volume.path, server: configure) { server in
            let client = try await HTTP2Tests.connect(server, fixture)
            defer { Task { await client.close() } }
            try await body(server, client)
        }
        await origin.stop()
    }

    @Test("a stream whose window stays closed holds the origin back; opened, it gets the whole body")
    func closedWindowHoldsBackTheOrigin() async throws {
        try await Self.withRelay { server, client in
            var wire = H2Wire()
            try await client.send(wire.request("/vod/big.mp4", stream: 1))
            // The stream's window (65,535 bytes) fills; what waits beyond it marks the viewer
            // behind (256 KiB), and the fill stops reading after its own pacing window and the
            // reads in flight: far less than the body.
            let held = try await RelayBackpressureTests.settledOriginBytes(server)
            #expect(held > 0)
            #expect(held < 4 << 20, "the cache read \(held) of \(Self.size) bytes for a stream that takes none")
            let responses = try await HTTP2Tests.exchange(
                client, H2Wire.windowUpdate(stream: 0, UInt32(64 << 20)) + H2Wire.windowUpdate(stream: 1, UInt32(64 << 20)), streams: [1])
            #expect(responses[1]?.status == 200)
            let intact = RelayBackpressureTests.same(responses[1]?.body ?? [], Array(RelayBackpressureTests.body(Self.size).utf8))
            #expect(intact)
            #expect(server.server.context.stats.relayClientsCut.load(ordering: .relaxed) == 0)
        }
    }

    @Test("a stream further behind than maxRelayBacklog is reset (CANCEL); the connection goes on")
    func streamTooFarBehindIsReset() async throws {
        try await Self.withRelay(maxRelayBacklog: 128 << 10) { server, client in
            var wire = H2Wire()
            try await client.send(wire.request("/vod/long.mp4", stream: 1))
            await client.wait { H2Wire.responses(in: $0)[1]?.reset != nil }
            #expect(H2Wire.responses(in: client.received)[1]?.reset == 8)
            #expect(server.server.context.stats.relayClientsCut.load(ordering: .relaxed) == 1)
            let next = try await HTTP2Tests.exchange(client, wire.request("/small.bin", stream: 3), streams: [3])
            #expect(next[3]?.status != nil)
        }
    }
}
