import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// An HTTP/1.1 origin on 127.0.0.1:0 for the cache-path tests, on NIO's server codec: every
/// request (head and whole body) is logged and answered by the test's closure. Over TLS when
/// given a server context.
final class ScriptedOrigin: Sendable {
    /// A request the origin received.
    struct Request: Sendable {
        var head: HTTPRequestHead
        var body: [UInt8]

        func header(_ name: String) -> String? { self.head.headers.first(name: name) }
        var path: String { self.head.uri }
    }

    /// An answer: status, fields, body; `delay` before it is sent.
    struct Answer: Sendable {
        var status: HTTPResponseStatus = .ok
        var headers: [(String, String)] = []
        var body: String = ""
        var delay: TimeAmount = .zero

        init(_ status: HTTPResponseStatus = .ok, _ headers: [(String, String)] = [], body: String = "", delay: TimeAmount = .zero) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }
    }

    let port: Int
    private let isSecure: Bool
    private let channel: any Channel
    private let log = LogBox()

    init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, tls: NIOSSLContext? = nil,
        answer: @escaping @Sendable (Request, Int) -> Answer
    ) async throws {
        self.isSecure = tls != nil
        let log = self.log
        let box = LogRef(log: { request in
            log.requests.withLock { requests in
                requests.append(request)
                return requests.count - 1
            }
        })
        self.channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(OriginResponder(log: box, answer: answer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.port = self.channel.localAddress!.port!
    }

    var url: String { "\(self.isSecure ? "https" : "http")://127.0.0.1:\(self.port)" }
    var requests: [Request] { self.log.requests.withLock { $0 } }
    var requestCount: Int { self.log.requests.withLock { $0.count } }

    func stop() async {
        try? await self.channel.close()
    }
}

private final class LogBox: Sendable {
    let requests = Mutex<[ScriptedOrigin.Request]>([])
}

private struct LogRef: Sendable {
    let log: @Sendable (ScriptedOrigin.Request) -> Int
}

private final class OriginResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let log: LogRef
    private let answer: @Sendable (ScriptedOrigin.Request, Int) -> ScriptedOrigin.Answer
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(log: LogRef, answer: @escaping @Sendable (ScriptedOrigin.Request, Int) -> ScriptedOrigin.Answer) {
        self.log = log
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
        case .body(let bytes):
            self.body += bytes.readableBytesView
        case .end:
            let request = ScriptedOrigin.Request(head: self.head!, body: self.body)
            let index = self.log.log(request)
            let answer = self.answer(request, index)
            let send = {
                var headers = HTTPHeaders(answer.headers)
                let bodiless = request.head.method == .HEAD || answer.status == .notModified || answer.status == .noContent
                if !headers.contains(name: "content-length"), !bodiless || request.head.method == .HEAD {
                    headers.add(name: "Content-Length", value: "\(answer.body.utf8.count)")
                }
                context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))), promise: nil)
                if !bodiless, !answer.body.isEmpty {
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
                }
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            }
            if answer.delay == .zero {
                send()
            } else {
                context.eventLoop.assumeIsolated().scheduleTask(in: answer.delay) { send() }
            }
        }
    }
}
