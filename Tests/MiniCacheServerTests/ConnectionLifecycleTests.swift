import Foundation
import MiniCacheTesting
import Testing

@testable import MiniCacheServer

/// A connection's life against clients that go away at awkward moments, on real sockets.
@Suite struct ConnectionLifecycleTests {
    /// Connects, sends `bytes`, and resets the connection (SO_LINGER 0) without reading.
    static func sendAndReset(port: Int, _ bytes: [UInt8]) throws {
        let socket = try LoopbackSocket(port: port)
        socket.send(bytes)
        socket.resetOnClose()
    }

    @Test("a client that resets while its pipelined responses are written leaves the server serving")
    func resetWhileWriting() async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        try volume.add("big", TestVolume.bytes(60 << 10))
        try await TestServer.with(volume: volume.path, { $0.threads = 1 }) { server in
            let requests = Array(String(repeating: "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", count: 64).utf8)
            for _ in 0..<50 {
                try Self.sendAndReset(port: server.port, requests)
            }
            let response = try await TestConnection.get(port: server.port, "/big")
            #expect(response.status == 200)
            #expect(response.body.count == 60 << 10)
        }
    }

    @Test("a client that resets while a large body streams leaves the server serving")
    func resetWhileStreaming() async throws {
        try await TestServer.with(volume: TestVolume.shared.path, { $0.threads = 1 }) { server in
            let requests = Array(String(repeating: "GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n", count: 8).utf8)
            for _ in 0..<20 {
                try Self.sendAndReset(port: server.port, requests)
            }
            let response = try await TestConnection.get(port: server.port, "/small.bin")
            #expect(response.status == 200)
        }
    }
}
