import HTTPToolkit
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// A subscriber like the cache's recorder: it ends the fill's hold from a closure that refers
/// back to the fill.
private final class HoldingRecorder: OriginResponseDelegate {
    private let release: @Sendable () -> Void

    init(release: @escaping @Sendable () -> Void) {
        self.release = release
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {}
    func originDidReceiveBodyPart(_ part: ByteBuffer) {}
    func originDidFinish() { self.release() }
    func originDidFail(_ error: OriginError) { self.release() }
}

/// What a fill keeps once its response is over (real origin sockets on 127.0.0.1).
struct OriginFillLifetimeTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test(
        "a fill that ended (stored and released, or failed) lets go of its subscribers and task: a recorder referring back to it keeps nothing alive",
        arguments: [true, false])
    func endedFillIsFreed(succeeds: Bool) async throws {
        let origin = try await TestOrigin(group: group) { _, _ in
            succeeds ? [.send(TestOrigin.response(body: "segment", headers: ["Cache-Control: max-age=60"]))] : [.close]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let viewer = RecordingDelegate()
        weak var weakFill: OriginFill<String>?
        weak var weakRecorder: HoldingRecorder?
        do {
            let (fill, isNew) = fills.fill(for: "segment.ts")
            #expect(isNew)
            let recorder = HoldingRecorder { fill.release() }
            #expect(fill.subscribe(recorder, on: group.next()) == .joined)
            #expect(fill.subscribe(viewer, on: group.next(), paced: true) == .joined)
            fill.start(OriginRequest(target: "/segment.ts"), to: address, using: client, holdAfterFinish: true)
            weakFill = fill
            weakRecorder = recorder
        }
        let record = await viewer.end()
        #expect(record.finished == succeeds)
        #expect((record.error == nil) == succeeds)
        // The recorder's release runs on an event loop after the viewer's end.
        for _ in 0..<500 where weakFill != nil || weakRecorder != nil {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(weakFill == nil, "the fill outlived its response")
        #expect(weakRecorder == nil, "the recorder outlived its fill's response")
        #expect(fills.count == 0)
        client.shutdown()
        await origin.stop()
    }
}
