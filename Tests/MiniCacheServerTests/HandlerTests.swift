import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import MiniCacheServer

/// Protocol logic of the connection handler on an `EmbeddedChannel`.
@Suite struct HandlerTests {
    let requests = "GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\nHEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n"

    @Test("RFC 9112 §2.2: requests split at any byte give the same responses as one write")
    func splitAtEveryByte() throws {
        let whole = try EmbeddedHarness(volume: TestVolume.shared.path)
        try whole.receive(self.requests)
        let expected = try whole.output()
        #expect(expected.contains("HTTP/1.1 404 Not Found"))
        let bytes = Array(self.requests.utf8)
        for cut in stride(from: 1, to: bytes.count, by: 3) {
            let split = try EmbeddedHarness(volume: TestVolume.shared.path)
            try split.receive(Array(bytes[0..<cut]))
            try split.receive(Array(bytes[cut...]))
            #expect(try split.output() == expected, "split at \(cut)")
        }
    }

    @Test("RFC 9112 §3.2.2: absolute-form targets without a path name /")
    func absoluteFormWithoutPath() throws {
        let harness = try EmbeddedHarness(volume: TestVolume.shared.path)
        try harness.receive("GET http://t HTTP/1.1\r\nHost: t\r\n\r\nGET http://t?x=1 HTTP/1.1\r\nHost: t\r\n\r\nGET http://t/small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        let output = try harness.output()
        #expect(output.components(separatedBy: "<!doctype html><p>hello</p>\n").count == 3)
        #expect(output.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
    }

    @Test("responses to one read batch go out in one write")
    func oneWritePerBatch() throws {
        let harness = try EmbeddedHarness(volume: TestVolume.shared.path)
        try harness.receive(String(repeating: "GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n", count: 16))
        let writes = try harness.writes()
        #expect(writes.count == 1)
        #expect(String(decoding: writes[0], as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count == 17)
    }

    @Test("a small object's head and body go out in the same write")
    func headAndBodyTogether() throws {
        let harness = try EmbeddedHarness(volume: TestVolume.shared.path)
        try harness.receive("GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
        let writes = try harness.writes()
        #expect(writes.count == 1)
        #expect(String(decoding: writes[0], as: UTF8.self).hasSuffix("<!doctype html><p>hello</p>\n"))
    }

    @Test("RFC 9112 §9.6: a malformed request is answered 400 and the connection closed")
    func malformedCloses() throws {
        let harness = try EmbeddedHarness(volume: TestVolume.shared.path)
        try harness.receive("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let output = try harness.output()
        #expect(output.hasPrefix("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"))
        #expect(output.components(separatedBy: "HTTP/1.1").count == 2)
        harness.channel.embeddedEventLoop.run()
        #expect(!harness.channel.isActive)
    }

    @Test("shutdown closes an idle connection at once")
    func quiesceIdle() throws {
        let harness = try EmbeddedHarness(volume: TestVolume.shared.path)
        try harness.receive("GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try harness.writes()
        harness.channel.pipeline.fireUserInboundEventTriggered(QuiesceEvent())
        harness.channel.embeddedEventLoop.run()
        #expect(!harness.channel.isActive)
    }

    @Test("a request arriving during shutdown is answered with Connection: close")
    func quiesceMidRequest() throws {
        let harness = try EmbeddedHarness(volume: TestVolume.shared.path)
        try harness.receive("GET /small.bin HTTP/1.1\r\n")
        harness.channel.pipeline.fireUserInboundEventTriggered(QuiesceEvent())
        try harness.receive("Host: t\r\n\r\n")
        let output = try harness.output()
        #expect(output.contains("Connection: close\r\n"))
        harness.channel.embeddedEventLoop.run()
        #expect(!harness.channel.isActive)
    }

    @Test(
        "a body part whose write fails at once ends the stream: nothing more is read or written, the connection closes",
        arguments: [LargeObjectStrategy.sendfile, .read])
    func failedPartEndsStream(strategy: LargeObjectStrategy) throws {
        let server = try EmbeddedHarness.makeServer(
            volume: TestVolume.shared.path,
            configuration: TestServer.configuration {
                $0.largeObjectStrategy = strategy
                $0.streamChunkSize = 64 * 1024
            })
        let harness = try EmbeddedHarness(server: server)
        // The head goes through; the first body part fails as on a channel that closed under it.
        let writes = FailingWrites(passing: 1)
        try harness.channel.pipeline.syncOperations.addHandler(writes, position: .first)
        try harness.receive("GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        harness.channel.embeddedEventLoop.run()
        // 3 MiB in 64 KiB parts: the stream had 47 more parts to hand out after the one that
        // failed, and the request behind it would be a write of its own.
        #expect(writes.count == 2)
        #expect(!harness.channel.isActive)
    }
}

/// Passes the first `passing` writes on and fails the rest at once.
private final class FailingWrites: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    let passing: Int
    private(set) var count = 0

    init(passing: Int) {
        self.passing = passing
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.count += 1
        if self.count <= self.passing {
            context.write(data, promise: promise)
        } else {
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }
}
