import Foundation
import MiniCacheTesting
import NIOCore
import Synchronization
import Testing

@testable import MiniCacheServer

/// An origin on a blocking socket that answers one request with a large body and counts the
/// bytes its socket accepted: what the cache let it send. Its send buffer is small and fixed, so
/// once the cache stops reading, the origin stops too.
final class CountingOrigin: Sendable {
    let port: Int
    /// Body bytes the origin's socket accepted so far.
    let sent = Atomic<Int>(0)
    /// The request head the origin received.
    let request = Mutex("")
    private let listener: LoopbackListener

    init() throws {
        self.listener = try LoopbackListener(backlog: 4)
        self.port = self.listener.port
    }

    /// Accepts one connection, reads a request head and sends `head` then `body`, part by part;
    /// returns when all was sent or the connection failed.
    func answerOnce(head: String, body: [UInt8]) async {
        await BlockingWork.run {
            let fd = self.listener.accept()
            guard fd >= 0 else { return }
            defer { close(fd) }
            var size: Int32 = 64 << 10
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while TestConnection.find(Array("\r\n\r\n".utf8), in: received) == nil {
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return }
                received += chunk[0..<count]
            }
            self.request.withLock { $0 = String(decoding: received, as: UTF8.self) }
            guard Self.sendAll(fd, Array(head.utf8)) else { return }
            var offset = 0
            while offset < body.count {
                let end = min(body.count, offset + (64 << 10))
                guard Self.sendAll(fd, Array(body[offset..<end])) else { return }
                self.sent.add(end - offset, ordering: .relaxed)
                offset = end
            }
        }
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }
            done += count
        }
        return true
    }
}

/// Pacing of responses the cache relays without sharing them (`UpstreamRelay.direct`: other
/// methods, uncacheable and personal responses), over real sockets.
struct PassThroughPacingTests {
    /// The most a TCP socket's receive queue grows to by itself (the maximum of net.ipv4.tcp_rmem).
    static func maxReceiveQueue() -> Int {
        let setting = try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_rmem", encoding: .utf8)
        return setting?.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? 6 << 20
    }

    /// Waits until the origin's sent bytes stop growing (no change for 500 ms).
    static func settled(_ origin: CountingOrigin) async throws -> Int {
        var last = -1
        for _ in 0..<120 {
            let now = origin.sent.load(ordering: .relaxed)
            if now == last, now > 0 { return now }
            last = now
            try await Task.sleep(for: .milliseconds(500))
        }
        return last
    }

    @Test("a pass-through response to a viewer that stops reading holds its origin back through TCP; the body completes intact when it reads again")
    func passThroughIsPacedByItsViewer() async throws {
        let size = 128 << 20
        let body = Array(RelayBackpressureTests.body(size).utf8)
        let origin = try CountingOrigin()
        let answered = Task {
            await origin.answerOnce(
                head: "HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\nContent-Type: application/octet-stream\r\nCache-Control: no-store\r\n\r\n",
                body: body)
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, {
            $0.origin = "http://127.0.0.1:\(origin.port)"
            // Safety margins only: the stopped viewer must be neither closed as idle nor cut as too far behind.
            $0.idleTimeout = .seconds(600)
            $0.maxRelayBacklog = 256 << 20
        }) { server in
            let viewer = try SlowViewer(
                port: server.port, target: "/upload",
                request: "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
            // Nobody reads. What the origin could send is at most: the kernel's queues on both
            // origin-side sockets (its 64 KiB send buffer, doubled, and the cache's receive queue,
            // up to tcp_rmem's maximum), what the cache holds (the 256 KiB pacing window, a few
            // reads of the origin connection before the pause takes effect, the viewer's backlog
            // up to the 256 KiB that marks it behind, the connection's 512 KiB write buffer) and the
            // viewer's socket (its send queue, at most tcp_wmem's maximum, and the client's
            // small receive buffer). Without pacing the cache reads all 128 MiB into memory.
            // Measured here: 6.4-6.6 MiB against a bound of 40 MiB (tcp_rmem's maximum is 32 MiB);
            // 128 MiB with DirectPacing never pausing.
            let held = try await Self.settled(origin)
            let bound = Self.maxReceiveQueue() + RelayBackpressureTests.maxSendQueue() + (4 << 20)
            #expect(held > 0)
            #expect(held < bound, "the origin sent \(held) of \(size) bytes to a viewer that does not read (bound \(bound))")
            #expect(origin.request.withLock { $0.hasPrefix("POST /upload HTTP/1.1\r\n") })
            let (head, received) = await viewer.read(bodySize: size)
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(head.contains("X-Cache: PASS"))
            #expect(received.count == size)
            let intact = RelayBackpressureTests.same(received, body)
            #expect(intact)
            #expect(server.server.context.stats.relayClientsCut.load(ordering: .relaxed) == 0)
        }
        await answered.value
    }
}
