import Dispatch
import HTTPToolkit
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOPosix
import Testing

/// The origin read of a fill follows its paced subscribers, also while their event loops are busy.
struct OriginFillPacingTests {
    /// Polls `value` until it is positive and unchanged for 300 ms (at most about 15 s).
    static func settled(_ value: () -> Int) async throws -> Int {
        var last = -1
        for _ in 0..<50 {
            let now = value()
            if now == last, now > 0 { return now }
            last = now
            try await Task.sleep(for: .milliseconds(300))
        }
        return last
    }

    @Test("a paced subscriber whose event loop is busy holds back the origin read until its loop takes the parts")
    func busyLoopHoldsBackTheOrigin() async throws {
        let size = 16 << 20
        let body = String(repeating: "0123456789abcdef", count: size / 16)
        let origin = try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { _, _ in
            [.send(TestOrigin.response(body: body))]
        }
        // The origin connection on one loop, the subscriber on the other.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let busy = DispatchSemaphore(value: 0)
        loops[1].execute { busy.wait() }

        let viewer = RecordingDelegate()
        let (fill, isNew) = fills.fill(for: "big")
        #expect(isNew)
        #expect(fill.subscribe(viewer, on: loops[1], paced: true) == .joined)
        fill.start(
            OriginRequest(target: "/big"), to: OriginAddress(host: "127.0.0.1", port: origin.port), using: client, on: loops[0])

        // The subscriber cannot report a backlog while its loop is busy: what waits for that loop
        // holds the read back. The fill reads the pacing window and at most one more read pass of
        // its connection (4 reads of up to 64 KiB) before the pause takes effect.
        let held = try await Self.settled { fill.receivedBytes }
        #expect(held > 0)
        #expect(held <= 1 << 20, "the fill read \(held) of \(size) bytes for a subscriber whose loop was busy")

        busy.signal()
        let record = await viewer.end()
        #expect(record.finished)
        #expect(record.body.count == size)
        let intact = record.body.elementsEqual(body.utf8)
        #expect(intact)
        #expect(origin.requestCount == 1)
        client.shutdown()
        await origin.stop()
        try await group.shutdownGracefully()
    }
}
