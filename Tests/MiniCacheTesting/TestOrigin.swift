import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A scriptable HTTP/1.1 origin on 127.0.0.1 (port 0) for tests. It parses requests from the raw
/// bytes (Content-Length or chunked bodies, pipelined or not), logs them, and answers each with a
/// list of actions on raw bytes, so a test can send well-formed answers (``Answer``) as well as
/// broken, truncated, slow, piecewise or no responses. Over TLS when given a server context.
public final class TestOrigin: Sendable {
    /// One step of an answer.
    public enum Action: Sendable {
        case send(String)
        case sendBytes([UInt8])
        case wait(TimeAmount)
        case waitFor(Gate)
        /// Closes the connection once what was sent before is written.
        case close
    }

    /// A request the origin received.
    public struct Request: Sendable {
        /// The request line and the fields as received, without the blank line.
        public var head: String
        public var method: String
        /// The request target (path and query).
        public var path: String
        public var headers: [(String, String)]
        /// The body, de-chunked.
        public var body: [UInt8]

        /// The first field named `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            let name = name.lowercased()
            return self.headers.first { $0.0.lowercased() == name }?.1
        }

        /// Whether the head (request line and fields) contains `text`.
        public func contains(_ text: String) -> Bool { self.head.contains(text) }

        /// Whether the head starts with `text`.
        public func hasPrefix(_ text: String) -> Bool { self.head.hasPrefix(text) }
    }

    /// A complete answer: status, fields and body (with a `Content-Length` unless the fields have
    /// one), after `delay`.
    public struct Answer: Sendable {
        public var status: HTTPResponseStatus
        public var headers: [(String, String)]
        public var body: String
        public var delay: TimeAmount

        public init(_ status: HTTPResponseStatus = .ok, _ headers: [(String, String)] = [], body: String = "", delay: TimeAmount = .zero) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }

        /// The actions that send this answer to `request` (no body for HEAD, 204 and 304).
        public func actions(for request: Request) -> [Action] {
            let bodiless = self.status == .notModified || self.status == .noContent
            var text = "HTTP/1.1 \(self.status.code) \(self.status.reasonPhrase)\r\n"
            for (name, value) in self.headers { text += "\(name): \(value)\r\n" }
            let hasLength = self.headers.contains { $0.0.lowercased() == "content-length" }
            if !hasLength, !bodiless { text += "Content-Length: \(self.body.utf8.count)\r\n" }
            text += "\r\n"
            if !bodiless, request.method != "HEAD" { text += self.body }
            return self.delay == .zero ? [.send(text)] : [.wait(self.delay), .send(text)]
        }
    }

    /// What the origin saw.
    struct Log: Sendable {
        var requests: [Request] = []
        var connections = 0
        var closedConnections = 0
    }

    public let port: Int
    private let isSecure: Bool
    private let channel: any Channel
    private let log: LogBox

    /// Starts an origin answering request number `index` (from 0, over all connections) with the
    /// actions `script` returns; an empty list leaves the request unanswered.
    public init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, tls: NIOSSLContext? = nil,
        script: @escaping @Sendable (_ request: Request, _ index: Int) -> [Action]
    ) async throws {
        let log = LogBox()
        self.log = log
        self.isSecure = tls != nil
        self.channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    log.mutex.withLock { $0.connections += 1 }
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(ScriptHandler(log: log, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.port = self.channel.localAddress!.port!
    }

    /// Starts an origin answering request number `index` with `answer`'s complete response.
    public static func answering(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, tls: NIOSSLContext? = nil,
        _ answer: @escaping @Sendable (_ request: Request, _ index: Int) -> Answer
    ) async throws -> TestOrigin {
        try await TestOrigin(group: group, tls: tls) { request, index in answer(request, index).actions(for: request) }
    }

    /// Starts an origin answering every request with a 200 whose body comes in `pieces`, one every
    /// `delay`, then closing the connection (a live stream's segment as it is being made).
    public convenience init(pieces: [String], delay: TimeAmount, contentType: String = "video/mp2t") async throws {
        let total = pieces.reduce(0) { $0 + $1.utf8.count }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: \(contentType)\r\nContent-Length: \(total)\r\nConnection: close\r\n\r\n"
        let actions: [Action] = [.send(head)] + pieces.flatMap { [Action.wait(delay), .send($0)] } + [.close]
        try await self.init { _, _ in actions }
    }

    public var url: String { "\(self.isSecure ? "https" : "http")://127.0.0.1:\(self.port)" }
    public var requests: [Request] { self.log.mutex.withLock { $0.requests } }
    public var requestCount: Int { self.log.mutex.withLock { $0.requests.count } }
    public var connectionCount: Int { self.log.mutex.withLock { $0.connections } }
    public var closedConnectionCount: Int { self.log.mutex.withLock { $0.closedConnections } }

    public func stop() async {
        try? await self.channel.close()
    }

    /// A complete response with a `Content-Length`, as text.
    public static func response(_ status: String = "200 OK", body: String = "", headers: [String] = []) -> String {
        var text = "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n"
        for header in headers { text += header + "\r\n" }
        return text + "\r\n" + body
    }

    final class LogBox: Sendable {
        let mutex = Mutex(Log())
    }
}

/// A latch an origin's script can wait on until the test opens it.
public final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [@Sendable () -> Void])>((false, []))

    public init() {}

    public func open() {
        let waiters = self.state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter() }
    }

    func whenOpen(_ body: @escaping @Sendable () -> Void) {
        let runNow = self.state.withLock { state in
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
    private let script: @Sendable (TestOrigin.Request, Int) -> [TestOrigin.Action]
    private var pending: [UInt8] = []
    private var queue: [[TestOrigin.Action]] = []
    private var busy = false
    private var closed = false
    private var lastWrite: EventLoopFuture<Void>?

    init(log: TestOrigin.LogBox, script: @escaping @Sendable (TestOrigin.Request, Int) -> [TestOrigin.Action]) {
        self.log = log
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.pending += Self.unwrapInboundIn(data).readableBytesView
        do {
            while let (request, consumed) = try Self.parse(self.pending) {
                self.pending.removeFirst(consumed)
                let index = self.log.mutex.withLock { log in
                    log.requests.append(request)
                    return log.requests.count - 1
                }
                self.queue.append(self.script(request, index))
            }
        } catch {
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: TestOrigin.response("400 Bad Request", body: "\(error)"))))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        self.runNext(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed = true
        self.log.mutex.withLock { $0.closedConnections += 1 }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func runNext(context: ChannelHandlerContext) {
        guard !self.busy, !self.queue.isEmpty else { return }
        self.busy = true
        self.run(self.queue.removeFirst()[...], context: context)
    }

    private func run(_ actions: ArraySlice<TestOrigin.Action>, context: ChannelHandlerContext) {
        guard !self.closed else { return }
        guard let action = actions.first else {
            self.busy = false
            self.runNext(context: context)
            return
        }
        let rest = actions.dropFirst()
        switch action {
        case .send(let text):
            self.lastWrite = context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: text)))
            self.run(rest, context: context)
        case .sendBytes(let bytes):
            self.lastWrite = context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(bytes: bytes)))
            self.run(rest, context: context)
        case .wait(let delay):
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) { self.run(rest, context: context) }
        case .waitFor(let gate):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            gate.whenOpen { bound.eventLoop.execute { bound.value.0.run(rest, context: bound.value.1) } }
        case .close:
            if let lastWrite = self.lastWrite {
                lastWrite.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }

    /// One complete request at the start of `bytes` and how many bytes it took; nil while it is
    /// incomplete.
    private static func parse(_ bytes: [UInt8]) throws -> (TestOrigin.Request, Int)? {
        guard let end = bytes.firstIndex(of: [13, 10, 13, 10]) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3 else { throw TestClientError(description: "bad request line in \(head)") }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw TestClientError(description: "field line without a colon in \(head)") }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        var request = TestOrigin.Request(head: head, method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: [])
        var offset = end + 4
        if request.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                guard let lineEnd = bytes.firstIndex(of: [13, 10], from: offset) else { return nil }
                let sizeText = String(decoding: bytes[offset..<lineEnd], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";").first.map(String.init)?.trimmingSpaces() ?? "", radix: 16) else {
                    throw TestClientError(description: "bad chunk size line \(sizeText)")
                }
                offset = lineEnd + 2
                if size == 0 {
                    // No trailers: the blank line ends the body.
                    guard let trailerEnd = bytes.firstIndex(of: [13, 10], from: offset) else { return nil }
                    return (request, trailerEnd + 2)
                }
                guard bytes.count >= offset + size + 2 else { return nil }
                request.body += bytes[offset..<(offset + size)]
                offset += size + 2
            }
        }
        let length = Int(request.header("Content-Length") ?? "0") ?? 0
        guard bytes.count >= offset + length else { return nil }
        request.body = Array(bytes[offset..<(offset + length)])
        return (request, offset + length)
    }
}
