import Foundation
import Logging
import NIOCore
import MiniCacheTesting
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// A client that sends one request and reads only when told, through a small receive buffer
/// (set before connecting, so the kernel does not grow it): a viewer slower than the origin.
final class SlowViewer: Sendable {
    private let socket: LoopbackSocket

    /// - Parameter request: the request sent, when not a GET of `target`.
    init(port: Int, target: String, request: String? = nil, receiveBuffer: Int32 = 16 << 10) throws {
        self.socket = try LoopbackSocket(port: port, receiveBuffer: receiveBuffer, receiveTimeout: 30)
        guard self.socket.send(request ?? "GET \(target) HTTP/1.1\r\nHost: test\r\n\r\n") else {
            throw TestClientError(description: "cannot send the request")
        }
    }

    /// Reads a response head and then until `bodySize` body bytes arrived, the server closes, or
    /// nothing came for 30 s; returns the head and the body bytes received. The blocking reads run
    /// on ``BlockingWork``'s threads.
    func read(bodySize: Int) async -> (head: String, body: [UInt8]) {
        await BlockingWork.run { self.readBlocking(bodySize: bodySize) }
    }

    private func readBlocking(bodySize: Int) -> (head: String, body: [UInt8]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(bodySize + 4096)
        var headEnd: Int?
        while headEnd == nil || bytes.count < headEnd! + 4 + bodySize {
            let part = self.socket.receive(limit: 256 << 10)
            if part.isEmpty { break }
            bytes += part
            if headEnd == nil { headEnd = TestConnection.find(Array("\r\n\r\n".utf8), in: Array(bytes.prefix(4096))) }
        }
        guard let end = headEnd else { return ("", []) }
        return (String(decoding: bytes[..<end], as: UTF8.self), Array(bytes[(end + 4)...]))
    }
}

/// Back-pressure on relayed responses over real sockets: viewers slower than the origin.
struct RelayBackpressureTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    static func body(_ size: Int) -> String {
        let pattern = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
        return String(repeating: pattern, count: size / pattern.utf8.count)
    }

    /// Whether `received` is `expected`, compared as memory (element-wise comparison of 32 MiB
    /// arrays is slow in debug builds).
    static func same(_ received: [UInt8], _ expected: [UInt8]) -> Bool {
        received.count == expected.count && received.withUnsafeBytes { r in expected.withUnsafeBytes { memcmp(r.baseAddress!, $0.baseAddress!, r.count) == 0 } }
    }

    /// The most a TCP socket's send queue grows to by itself (the maximum of
    /// net.ipv4.tcp_wmem; Linux's default, 4 MiB, where it cannot be read).
    static func maxSendQueue() -> Int {
        let setting = try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)
        return setting?.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? 4 << 20
    }

    /// Waits until the origin bytes the cache received stop growing (no change for 500 ms).
    static func settledOriginBytes(_ server: TestServer) async throws -> Int {
        var last = -1
        for _ in 0..<60 {
            let now = server.server.context.stats.originBytes.load(ordering: .relaxed)
            if now == last, now > 0 { return now }
            last = now
            try await Task.sleep(for: .milliseconds(500))
        }
        return last
    }

    @Test("viewers slower than the origin hold it back through TCP instead of the cache buffering the object; a fast viewer is not slowed")
    func slowViewersHoldBackTheOrigin() async throws {
        let size = 32 << 20
        let body = Self.body(size)
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: body, headers: ["Cache-Control: max-age=60", "Content-Type: video/mp4"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let log = LogRecorder()
        try await TestServer.with(volume: volume.path, logger: log.logger(level: .debug), {
            $0.origin = "http://127.0.0.1:\(origin.port)"
            $0.maxStoredObjectSize = 1 << 20
            // A safety margin only: the viewers that wait for the fast one must not be cut as stalled.
            $0.idleTimeout = .seconds(600)
        }) { server in
            let slow = try (0..<8).map { _ in try SlowViewer(port: server.port, target: "/vod/big.mp4") }
            for _ in 0..<1000 where server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) < 7 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) == 7)
            // Nobody reads: the cache stops reading its origin once every viewer is behind. All
            // viewers get the same bytes, so what it took is what the viewer that took most holds:
            // its socket's send queue (at most tcp_wmem's maximum, 4 MiB by default), the
            // connection's write buffer up to its high-water mark (512 KiB; the bound keeps 2 MiB) and a part, then at most
            // 1.5 MiB more: the 256 KiB backlog that marks a viewer behind and a part, the fill's
            // 256 KiB pacing window, up to two read passes of the origin connection (4 x 64 KiB
            // each) before the pause takes effect, and the client's small receive buffer.
            // Measured here: 6.0-6.1 MiB against a bound of 7.5 MiB (it was 15 MB when a busy
            // viewer loop let the fill read on).
            let held = try await Self.settledOriginBytes(server)
            let bound = Self.maxSendQueue() + (2 << 20) + (1536 << 10)
            #expect(held > 0)
            #expect(held < bound, "the cache read \(held) of \(size) bytes for viewers that do not read (bound \(bound))")
            // A viewer that keeps up joins the same fetch and gets the whole object at its pace.
            let fast = try await TestConnection.get(port: server.port, "/vod/big.mp4")
            #expect(fast.status == 200)
            #expect(fast.header("X-Cache") == "COALESCED")
            #expect(fast.body.count == size)
            let expected = Array(body.utf8)
            let fastIntact = Self.same(fast.body, expected)
            #expect(fastIntact)
            // Then the slow viewers read, and each gets the whole object too.
            for viewer in slow {
                let (head, received) = await viewer.read(bodySize: size)
                #expect(head.hasPrefix("HTTP/1.1 200"))
                #expect(received.count == size)
                let intact = Self.same(received, expected)
                #expect(intact)
            }
            let cuts = log.recorded.filter { $0.contains("closing") || $0.contains("cutting") }
            #expect(cuts.isEmpty, "\(cuts)")
            #expect(origin.requestCount == 1)
            #expect(server.server.context.stats.relayClientsCut.load(ordering: .relaxed) == 0)
        }
        await origin.stop()
    }

    @Test("a viewer further behind than maxRelayBacklog is cut; the viewer that keeps up gets the whole object")
    func viewerTooFarBehindIsCut() async throws {
        let size = 32 << 20
        let body = Self.body(size)
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: body, headers: ["Cache-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, {
            $0.origin = "http://127.0.0.1:\(origin.port)"
            $0.maxStoredObjectSize = 1 << 20
            // Well below what the slow viewer falls behind (the body less the sockets' buffers),
            // well above what the fast one can overshoot before the origin read pauses.
            $0.maxRelayBacklog = 8 << 20
            $0.idleTimeout = .seconds(600)
        }) { server in
            let slow = try SlowViewer(port: server.port, target: "/vod/long.mp4")
            for _ in 0..<1000 where origin.requestCount < 1 { try await Task.sleep(for: .milliseconds(10)) }
            _ = try await Self.settledOriginBytes(server)
            let fast = try await TestConnection.get(port: server.port, "/vod/long.mp4")
            #expect(fast.status == 200)
            let fastIntact = Self.same(fast.body, Array(body.utf8))
            #expect(fastIntact)
            let (head, received) = await slow.read(bodySize: size)
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(received.count < size)
            let prefixIntact = received.elementsEqual(body.utf8.prefix(received.count))
            #expect(prefixIntact)
            #expect(server.server.context.stats.relayClientsCut.load(ordering: .relaxed) == 1)
        }
        await origin.stop()
    }
}
