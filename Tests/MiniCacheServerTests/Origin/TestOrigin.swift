import NIOCore
import NIOPosix
import Synchronization

/// A scripted HTTP/1.1 origin on 127.0.0.1 (port 0) for the origin tests. It reads raw
/// request heads and answers each with a list of actions on raw bytes, so tests can send
/// broken, truncated, slow or silent responses.
final class TestOrigin: Sendable {
    /// One step of an answer.
    enum Action: Sendable {
        case send(String)
        case wait(TimeAmount)
        case waitFor(Gate)
        case close
    }

    /// What the origin saw.
    struct Log: Sendable {
        var requests: [String] = []
        var connections = 0
        var closedConnections = 0
    }

    final class LogBox: Sendable {
        let mutex = Mutex(Log())
    }

    let port: Int
    private let channel: any Channel
    private let log: LogBox

    /// Starts an origin answering request number `index` (from 0, over all connections) with `script`.
    init(group: any EventLoopGroup, script: @escaping @Sendable (_ request: String, _ index: Int) -> [Action]) async throws {
        let log = LogBox()
        self.log = log
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    log.mutex.withLock { $0.connections += 1 }
                    try channel.pipeline.syncOperations.addHandler(ScriptHandler(log: log, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    var requests: [String] { log.mutex.withLock { $0.requests } }
    var requestCount: Int { log.mutex.withLock { $0.requests.count } }
    var connectionCount: Int { log.mutex.withLock { $0.connections } }
    var closedConnectionCount: Int { log.mutex.withLock { $0.closedConnections } }

    func stop() async throws {
        try await channel.close()
    }

    /// A complete response with a `Content-Length`.
    static func response(_ status: String = "200 OK", body: String = "", headers: [String] = []) -> String {
        var text = "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n"
        for header in headers { text += header + "\r\n" }
        return text + "\r\n" + body
    }
}

/// A latch the origin's script can wait on until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [@Sendable () -> Void])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter() }
    }

    func whenOpen(_ body: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.isOpen { return true }
            state.waiters.append(body)
            return false
        }
        if runNow { body() }
    }
}

private final class ScriptHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let log: TestOrigin.LogBox
    private let script: @Sendable (String, Int) -> [TestOrigin.Action]
    private var pending: [UInt8] = []
    private var queue: [[TestOrigin.Action]] = []
    private var busy = false
    private var closed = false

    init(log: TestOrigin.LogBox, script: @escaping @Sendable (String, Int) -> [TestOrigin.Action]) {
        self.log = log
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        pending += buffer.readableBytesView
        while let end = Self.endOfHead(pending) {
            let head = String(decoding: pending[..<end], as: UTF8.self)
            let bodyLength = Self.contentLength(head) ?? 0
            guard pending.count >= end + 4 + bodyLength else { break }
            pending.removeFirst(end + 4 + bodyLength)
            let index = log.mutex.withLock { log in
                log.requests.append(head)
                return log.requests.count - 1
            }
            queue.append(script(head, index))
        }
        runNext(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        log.mutex.withLock { $0.closedConnections += 1 }
        context.fireChannelInactive()
    }

    private func runNext(context: ChannelHandlerContext) {
        guard !busy, !queue.isEmpty else { return }
        busy = true
        run(queue.removeFirst()[...], context: context)
    }

    private func run(_ actions: ArraySlice<TestOrigin.Action>, context: ChannelHandlerContext) {
        guard !closed else { return }
        guard let action = actions.first else {
            busy = false
            runNext(context: context)
            return
        }
        let rest = actions.dropFirst()
        switch action {
        case .send(let text):
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            run(rest, context: context)
        case .wait(let delay):
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) { self.run(rest, context: context) }
        case .waitFor(let gate):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            gate.whenOpen { bound.eventLoop.execute { bound.value.0.run(rest, context: bound.value.1) } }
        case .close:
            context.close(promise: nil)
        }
    }

    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    private static func contentLength(_ head: String) -> Int? {
        for line in head.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                return Int(parts[1].trimmingCharacters(in: " "))
            }
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}
