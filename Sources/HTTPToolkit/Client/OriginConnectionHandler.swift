import NIOCore
import NIOHTTP1

/// Drives one request/response exchange at a time on a pooled origin connection: writes the
/// request, passes the response to the delegate as it arrives, enforces the read timeout, and
/// detects bodies cut short by the origin.
final class OriginConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// How an exchange ended.
    enum Outcome {
        /// The response is complete; `reusable` when the connection can carry another request.
        case finished(reusable: Bool)
        /// The exchange failed; `beforeResponse` when no response byte had arrived.
        case failed(OriginError, beforeResponse: Bool)
    }

    private struct Exchange {
        var delegate: any OriginResponseDelegate
        var completion: (Outcome) -> Void
        var keepAlive: Bool
        var isHead: Bool
        /// Interim (1xx) responses received so far.
        var interim = 0
    }

    /// Interim responses accepted before the final one; an origin that sends more is broken (each
    /// one restarts the read timeout, so without a limit it could hold the exchange forever).
    static let maxInterimResponses = 16

    /// Reads per wake-up during an exchange (NIO's default). NIO keeps as many receive buffers per
    /// channel, each grown to the largest read (64 KiB while a body streams), and reuses them once
    /// the body parts cut from them are released.
    static let readsPerWakeup: UInt = 4
    /// Reads per wake-up of a pooled connection idle for `idleBufferRelease`, which only ever reads
    /// the origin's close: lowering it drops all receive buffers but one, so an idle connection
    /// holds 64 KiB, not 256 KiB (32 idle connections to an origin held 8 MiB of free buffers after
    /// a burst of fills). Changing it makes NIO copy its buffers (~3 % of an all-miss load when it
    /// was done for every exchange), so a connection reused sooner keeps them.
    static let idleReadsPerWakeup: UInt = 1

    private enum State {
        case idle
        case waitingForHead(Exchange)
        case receivingBody(Exchange, expectedLength: Int?, received: Int, keepAlive: Bool)
        case closed
    }

    private let origin: OriginAddress
    private let configuration: OriginClientConfiguration
    private let closedWhileIdle: () -> Void
    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var readTimer: Scheduled<Void>?
    /// When the origin last sent something (or the exchange started or resumed): the read timer is
    /// armed once and, when it fires, looks here, instead of being scheduled again for every body
    /// part (a scheduled task each time, ~2 % of the CPU of an all-miss load).
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    private var idleTimer: Scheduled<Void>?
    /// Whether the connection gave back its spare receive buffers (reads ``idleReadsPerWakeup``).
    private var releasedBuffers = false
    private var isPaused = false

    init(origin: OriginAddress, configuration: OriginClientConfiguration, closedWhileIdle: @escaping () -> Void) {
        self.origin = origin
        self.configuration = configuration
        self.closedWhileIdle = closedWhileIdle
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends `request`; the outcome is reported once through `completion`.
    func start(_ request: OriginRequest, delegate: any OriginResponseDelegate, completion: @escaping (Outcome) -> Void) {
        guard let context, case .idle = state, context.channel.isActive else {
            completion(.failed(error(.connectionReset, "the pooled connection was closed"), beforeResponse: true))
            return
        }
        idleTimer?.cancel()
        idleTimer = nil
        if releasedBuffers {
            releasedBuffers = false
            try? context.channel.syncOptions?.setOption(.maxMessagesPerRead, value: Self.readsPerWakeup)
        }
        var head = request.head
        if !head.headers.contains(name: "host") { head.headers.add(name: "Host", value: origin.hostField) }
        if let body = request.body {
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        }
        state = .waitingForHead(
            Exchange(delegate: delegate, completion: completion, keepAlive: head.isKeepAlive, isHead: head.method == .HEAD))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        armReadTimer()
    }

    /// Marks the connection idle in the pool: it gives back its spare receive buffers after
    /// `idleBufferRelease` and closes itself after the idle timeout.
    func becameIdle() {
        guard let context, case .idle = state else { return }
        let release = min(configuration.idleBufferRelease, configuration.idleConnectionTimeout)
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: release) { [weak self] in
            guard let self, let context = self.context, case .idle = self.state else { return }
            self.releasedBuffers = true
            try? context.channel.syncOptions?.setOption(.maxMessagesPerRead, value: Self.idleReadsPerWakeup)
            self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.idleConnectionTimeout - release) {
                [weak self] in
                guard let self, let context = self.context, case .idle = self.state else { return }
                context.close(promise: nil)
            }
        }
    }

    /// Fails the exchange in progress with ``OriginError/Code/cancelled`` and closes the connection.
    func cancel() {
        fail(error(.cancelled, "the request was cancelled"))
    }

    /// Stops reading from the origin (the consumer is behind); the read timeout is suspended.
    func pauseReading() {
        guard let context, !isPaused else { return }
        switch state {
        case .waitingForHead, .receivingBody:
            isPaused = true
            readTimer?.cancel()
            readTimer = nil
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        case .idle, .closed:
            break
        }
    }

    /// Reads from the origin again after ``pauseReading()``.
    func resumeReading() {
        guard let context, isPaused else { return }
        isPaused = false
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        context.read()
        switch state {
        case .waitingForHead, .receivingBody: armReadTimer()
        case .idle, .closed: break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .waitingForHead(var exchange)) where head.status.code < 200:
            // An interim response (RFC 9110 §15.2): the final one is still to come.
            guard head.status != .switchingProtocols else {
                fail(error(.badResponse, "the origin switched protocols (101) without being asked to"))
                return
            }
            exchange.interim += 1
            guard exchange.interim <= Self.maxInterimResponses else {
                fail(error(.badResponse, "the origin sent more than \(Self.maxInterimResponses) interim (1xx) responses"))
                return
            }
            state = .waitingForHead(exchange)
            armReadTimer()
            exchange.delegate.originDidReceiveInformational(head)
        case (.head(let head), .waitingForHead(let exchange)):
            let chunked = head.headers["transfer-encoding"].contains {
                HTTPListParser.elements(Substring($0)).last?.lowercased() == "chunked"
            }
            let bodiless = exchange.isHead || head.status == .noContent || head.status == .notModified
            let expected = chunked || bodiless ? nil : head.headers.first(name: "content-length").flatMap { Int($0) }
            state = .receivingBody(
                exchange, expectedLength: expected, received: 0, keepAlive: exchange.keepAlive && head.isKeepAlive)
            armReadTimer()
            exchange.delegate.originDidReceiveHead(head)
        case (.body(let part), .receivingBody(let exchange, let expected, let received, let keepAlive)):
            state = .receivingBody(exchange, expectedLength: expected, received: received + part.readableBytes, keepAlive: keepAlive)
            armReadTimer()
            exchange.delegate.originDidReceiveBodyPart(part)
        case (.end, .receivingBody(let exchange, let expected, let received, let keepAlive)):
            if let expected, expected != received {
                fail(error(.truncatedBody, "the body had \(received) of \(expected) bytes"))
                return
            }
            readTimer?.cancel()
            readTimer = nil
            state = .idle
            if isPaused { resumeReading() }
            // Back in the pool first, so a request the delegate triggers can reuse the
            // connection; a new exchange starts in a later event loop tick.
            exchange.completion(.finished(reusable: keepAlive))
            if !keepAlive { context.close(promise: nil) }
            exchange.delegate.originDidFinish()
        case (_, .closed):
            break
        case (_, .idle):
            // Bytes from an origin that owes no response: the connection cannot be trusted.
            state = .closed
            context.close(promise: nil)
        default:
            fail(error(.badResponse, "the origin sent a response part out of order"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .receivingBody:
            fail(self.error(.truncatedBody, "the connection broke before the body was complete", cause: error))
        case .waitingForHead:
            if let parserError = error as? HTTPParserError, parserError != .invalidEOFState {
                fail(self.error(.badResponse, "the origin's response is not valid HTTP/1", cause: error))
            } else {
                fail(self.error(.connectionReset, "the connection broke before a response arrived", cause: error))
            }
        case .idle:
            state = .closed
            context.close(promise: nil)
        case .closed:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .waitingForHead:
            fail(error(.connectionReset, "the origin closed the connection before responding"))
        case .receivingBody:
            fail(error(.truncatedBody, "the origin closed the connection before the body was complete"))
        case .idle:
            state = .closed
            idleTimer?.cancel()
            closedWhileIdle()
        case .closed:
            break
        }
        context.fireChannelInactive()
    }

    /// Restarts the read timeout: the origin has `readTimeout` from now to send something.
    private func armReadTimer() {
        guard let context, !isPaused else { return }
        lastRead = .now()
        guard readTimer == nil else { return }
        scheduleReadTimer(at: lastRead + configuration.readTimeout, context: context)
    }

    private func scheduleReadTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        readTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.readTimer = nil
            let due = self.lastRead + self.configuration.readTimeout
            if due > .now(), let context = self.context {
                self.scheduleReadTimer(at: due, context: context)
                return
            }
            self.fail(self.error(.readTimeout, "the origin sent nothing for \(self.configuration.readTimeout)"))
        }
    }

    private func fail(_ error: OriginError) {
        let exchange: Exchange
        let beforeResponse: Bool
        switch state {
        case .waitingForHead(let e):
            exchange = e
            beforeResponse = true
        case .receivingBody(let e, _, _, _):
            exchange = e
            beforeResponse = false
        case .idle, .closed:
            return
        }
        state = .closed
        readTimer?.cancel()
        readTimer = nil
        idleTimer?.cancel()
        context?.close(promise: nil)
        exchange.completion(.failed(error, beforeResponse: beforeResponse))
    }

    private func error(_ code: OriginError.Code, _ message: String, cause: (any Error)? = nil) -> OriginError {
        OriginError(code, origin: origin, message: message, cause: cause)
    }
}

@available(*, unavailable)
extension OriginConnectionHandler: Sendable {}
