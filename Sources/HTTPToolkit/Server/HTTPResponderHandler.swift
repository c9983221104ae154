import Logging
import NIOCore
import NIOHTTP1

/// Collects each request, asks the ``HTTPImmediateResponder`` and writes its response on the
/// channel's event loop: at once when it answered at once, else when its task is done.
///
/// The response is encoded here (``HTTPResponseEncoding``) and written as bytes in one flush,
/// without NIO's response encoder, header validator or pipelining handler: a redirect is one
/// buffer and one `writev`. Pipelined requests keep their order: while a task makes a response,
/// later requests wait here and the socket is not read (``read(context:)``). A request the
/// decoder cannot parse is answered `400` and the connection closes.
final class HTTPResponderHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: HTTPImmediateResponder
    private let configuration: HTTPServerConfiguration
    private let logger: Logger
    private var encoding: HTTPResponseEncoding
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var refusing = false
    /// The peer's address and its text, read once per connection.
    private var remoteAddress: SocketAddress?
    private var remoteIP = ""
    /// A response is being made in a task: complete requests that arrive meanwhile wait here.
    private var busy = false
    private var waiting = CircularBuffer<(HTTPRequestHead, ByteBuffer)>()
    /// A read was asked for while busy: it is passed on once the queue is empty.
    private var readHeld = false
    /// Closing after a response: nothing more is read or answered.
    private var closing = false

    init(responder: @escaping HTTPImmediateResponder, configuration: HTTPServerConfiguration, logger: Logger) {
        self.responder = responder
        self.configuration = configuration
        self.logger = logger
        self.encoding = HTTPResponseEncoding(serverName: configuration.serverName)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { noteRemote(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        noteRemote(context)
        context.fireChannelActive()
    }

    private func noteRemote(_ context: ChannelHandlerContext) {
        remoteAddress = context.channel.remoteAddress
        remoteIP = remoteAddress?.ipAddress ?? ""
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
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
            let body = self.body
            self.body = ByteBuffer()
            if busy {
                waiting.append((head, body))
            } else {
                serve(head, body: body, context: context)
            }
        }
    }

    /// Answers one complete request: written at once, or from a task (then later requests wait).
    private func serve(_ head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive
        let version = head.version
        let isHead = head.method == .HEAD
        // RFC 9112, 3.2: a request with more than one Host is invalid (which one names the tenant?).
        if head.headers["Host"].count > 1 {
            let response = HTTPResponse.text(.badRequest, "more than one Host header: send one\n")
            write(response, version: version, keepAlive: false, isHead: false, context: context)
            return
        }
        let request = HTTPRequest(
            method: head.method, uri: head.uri, headers: head.headers, body: body, remoteAddress: remoteAddress, remoteIP: remoteIP)
        let work: @Sendable () async -> HTTPResponse
        switch responder(request) {
        case .now(let response):
            write(response, version: version, keepAlive: keepAlive, isHead: isHead, context: context)
            return
        case .later(let later):
            work = later
        }
        busy = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            let response = await work()
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.busy = false
                handler.write(response, version: version, keepAlive: keepAlive, isHead: isHead, context: context)
                handler.serveWaiting(context: context)
            }
        }
    }

    /// Answers the requests that waited for a task, in order, until one needs a task again;
    /// then lets the socket be read again.
    private func serveWaiting(context: ChannelHandlerContext) {
        while !busy, !closing, let (head, body) = waiting.popFirst() {
            serve(head, body: body, context: context)
        }
        if !busy, !closing, readHeld {
            readHeld = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if busy {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func write(_ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, isHead: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive, !closing else { return }
        let (head, separateBody) = encoding.encode(
            response, version: version, keepAlive: keepAlive, isHead: isHead, allocator: context.channel.allocator)
        // The connection closes once its last response is written (a promise only then).
        let written = keepAlive ? nil : context.eventLoop.makePromise(of: Void.self)
        if let separateBody {
            context.write(wrapOutboundOut(head), promise: nil)
            context.writeAndFlush(wrapOutboundOut(separateBody), promise: written)
        } else {
            context.writeAndFlush(wrapOutboundOut(head), promise: written)
        }
        if let written {
            closing = true
            waiting.removeAll()
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request the decoder refused: answered 400 unless a response is under way (then the
        // connection just closes, as the answers would no longer match the requests).
        if error is HTTPParserError, !busy, !closing, context.channel.isActive {
            let response = HTTPResponse.text(.badRequest, "malformed HTTP request\n")
            write(response, version: .http1_1, keepAlive: false, isHead: false, context: context)
            return
        }
        logger.debug("connection error", metadata: ["error": "\(error)"])
        closing = true
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPResponderHandler: Sendable {}
