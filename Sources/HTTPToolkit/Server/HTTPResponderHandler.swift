import Logging
import NIOCore
import NIOHTTP1

/// Collects each request, asks the ``HTTPImmediateResponder`` and writes its response on the
/// channel's event loop: at once when it answered at once, else when its task is done. NIO's
/// pipelining handler holds later requests until the response is written, so answers keep the
/// order of the requests.
final class HTTPResponderHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: HTTPImmediateResponder
    private let configuration: HTTPServerConfiguration
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var refusing = false

    init(responder: @escaping HTTPImmediateResponder, configuration: HTTPServerConfiguration, logger: Logger) {
        self.responder = responder
        self.configuration = configuration
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
            self.refusing = false
        case .body(var buffer):
            guard !refusing else { return }
            if body.readableBytes + buffer.readableBytes > configuration.maxBodySize {
                refusing = true
                body.clear()
            } else {
                body.writeBuffer(&buffer)
            }
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            if refusing {
                let response = HTTPResponse.text(.payloadTooLarge, "the request body is larger than \(configuration.maxBodySize) bytes\n")
                write(response, version: head.version, keepAlive: false, isHead: false, context: context)
                return
            }
            // RFC 9112, 3.2: a request with more than one Host is invalid (which one names the tenant?).
            if head.headers["Host"].count > 1 {
                let response = HTTPResponse.text(.badRequest, "more than one Host header: send one\n")
                write(response, version: head.version, keepAlive: false, isHead: false, context: context)
                return
            }
            let request = HTTPRequest(
                method: head.method, uri: head.uri, headers: head.headers, body: body, remoteAddress: context.channel.remoteAddress)
            body = ByteBuffer()
            let keepAlive = head.isKeepAlive
            let version = head.version
            let isHead = head.method == .HEAD
            let work: @Sendable () async -> HTTPResponse
            switch responder(request) {
            case .now(let response):
                write(response, version: version, keepAlive: keepAlive, isHead: isHead, context: context)
                return
            case .later(let later):
                work = later
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            Task {
                let response = await work()
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.write(response, version: version, keepAlive: keepAlive, isHead: isHead, context: context)
                }
            }
        }
    }

    private func write(_ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, isHead: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: "\(response.body.readableBytes)")
        headers.replaceOrAdd(name: "Server", value: configuration.serverName)
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        if !isHead, response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPResponderHandler: Sendable {}
