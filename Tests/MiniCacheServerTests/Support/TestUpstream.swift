import NIOCore
import NIOPosix
import Synchronization

/// A tiny origin for link tests: counts requests and answers each after a delay, in pieces.
final class TestUpstream: Sendable {
    let requests = Atomic<Int>(0)
    let channel: any Channel
    let group: MultiThreadedEventLoopGroup

    var port: Int { self.channel.localAddress!.port! }

    /// - Parameters:
    ///   - answer: false to accept connections and never answer (for timeouts).
    init(pieces: [String], delay: TimeAmount, answer: Bool = true) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let counter = Counter()
        self.channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamResponder(pieces: pieces, delay: delay, answer: answer, counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.counter = counter
    }

    private let counter: Counter

    var requestCount: Int { self.counter.value.load(ordering: .relaxed) }

    func stop() async {
        try? await self.channel.close()
        try? await self.group.shutdownGracefully()
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
}

private final class UpstreamResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let pieces: [String]
    let delay: TimeAmount
    let answer: Bool
    let counter: TestUpstream.Counter
    var received = ""
    var answered = false

    init(pieces: [String], delay: TimeAmount, answer: Bool, counter: TestUpstream.Counter) {
        self.pieces = pieces
        self.delay = delay
        self.answer = answer
        self.counter = counter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received += String(buffer: self.unwrapInboundIn(data))
        guard !self.answered, self.received.contains("\r\n\r\n") else { return }
        self.answered = true
        self.counter.value.add(1, ordering: .relaxed)
        guard self.answer else { return }
        let total = self.pieces.reduce(0) { $0 + $1.utf8.count }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: \(total)\r\nConnection: close\r\n\r\n"
        let loop = context.eventLoop.assumeIsolated()
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
        for (i, piece) in self.pieces.enumerated() {
            loop.scheduleTask(in: self.delay * Int64(i + 1)) {
                let last = i == self.pieces.count - 1
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: piece))).assumeIsolated().whenComplete { _ in
                    if last { context.close(promise: nil) }
                }
            }
        }
    }
}
