import Foundation
import MiniCacheTesting
import Testing

@testable import MiniCacheServer

/// A connection's life against clients that go away at awkward moments, on real sockets.
@Suite struct ConnectionLifecycleTests {
    /// Connects, sends `bytes`, and resets the connection (SO_LINGER 0) without reading.
    static func sendAndReset(port: Int, _ bytes: [UInt8]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestClientError(description: "cannot connect: errno \(errno)") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
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
