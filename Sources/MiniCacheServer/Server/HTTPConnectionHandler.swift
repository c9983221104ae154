import HTTPToolkit
import Logging
import NIOCore

/// One data-plane connection: parses requests straight from the received bytes, answers them in
/// order (pipelining), and flushes once per read batch.
///
/// Responses are assembled into one outbound buffer per batch from ready-made parts: the status
/// and `Date` lines from the per-loop ``DateCache`` and the object's prepared fields and body.
/// Large bodies and link fetches are streamed; while one streams, further pipelined requests wait
/// in the input buffer and reading from the socket pauses.
package final class HTTPConnectionHandler: ChannelDuplexHandler {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundIn = Never
    package typealias OutboundOut = IOData

    enum Busy {
        case idle
        case streaming(BodyStream)
        case link(LinkResponse)
    }

    enum DeadlineKind {
        /// No deadline (a link response waits for its origin, which has its own timeout).
        case none
        /// A request head must complete.
        case header
        /// A keep-alive connection must send its next request.
        case idle
        /// A streamed body must make progress (the client keeps reading).
        case stall
    }

    /// Responses up to this size are copied into the batch buffer; larger ones are written as
    /// separate buffers in the same `writev`.
    static let copyLimit = 8192

    let server: ServerContext
    let dates: DateCache
    var mount: Mount
    var context: ChannelHandlerContext?
    var input: ByteBuffer?
    var out: ByteBuffer
    var needsFlush = false
    /// Request body bytes still to skip (bodies are not used by GET/HEAD and refused methods).
    var discard = 0
    var busy = Busy.idle
    var pendingRead = false
    /// Close once the output is written (set by `Connection: close`, errors, shutdown).
    var closing = false
    var closed = false
    var quiescing = false
    var inReadBatch = false
    /// Inside ``processInput(context:)``: a response finishing synchronously must not re-enter it.
    var processing = false
    var batchByClass = (0, 0, 0, 0, 0)
    var batchBytes = 0
    /// Cache hits and body bytes served from stored responses in this batch.
    var cacheBatch = (hits: 0, bytes: 0)
    var deadline = NIODeadline.uptimeNanoseconds(0)
    var deadlineKind = DeadlineKind.none
    var timer: Scheduled<Void>?
    var timerAt = NIODeadline.distantFuture
    var bufferPool: [ByteBuffer] = []

    package init(server: ServerContext, dates: DateCache) {
        self.server = server
        self.dates = dates
        self.mount = server.volumes.current
        self.out = ByteBuffer()
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.out = context.channel.allocator.buffer(capacity: 16384)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
    }

    package func channelActive(context: ChannelHandlerContext) {
        self.server.stats.connectionOpened()
        self.setDeadline(.header, NIODeadline.now() + self.server.configuration.headerTimeout, context: context)
        context.fireChannelActive()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        self.closed = true
        self.server.stats.connectionClosed()
        self.recordBatch()
        self.timer?.cancel()
        self.timer = nil
        if case .link(let response) = self.busy { response.subscription.cancel() }
        self.busy = .idle
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        guard !self.closing else { return }
        self.inReadBatch = true
        if self.discard > 0 {
            let skip = min(self.discard, bytes.readableBytes)
            bytes.moveReaderIndex(forwardBy: skip)
            self.discard -= skip
            if bytes.readableBytes == 0 { return }
        }
        if self.input == nil {
            self.input = bytes
        } else {
            if self.input!.readerIndex > 0 { self.input!.discardReadBytes() }
            self.input!.writeBuffer(&bytes)
        }
        if case .idle = self.busy {
            self.mount = self.server.volumes.current
            self.processInput(context: context)
        }
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        self.inReadBatch = false
        self.flushBatch(context: context)
        context.fireChannelReadComplete()
    }

    package func read(context: ChannelHandlerContext) {
        if case .idle = self.busy, !self.closing {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .streaming = self.busy {
            self.pump(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is QuiesceEvent {
            self.quiescing = true
            if case .idle = self.busy, (self.input?.readableBytes ?? 0) == 0 {
                self.closing = true
                self.flushBatch(context: context)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.server.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Request loop

    /// Answers every complete request in the input buffer, in order, until one needs streaming.
    func processInput(context: ChannelHandlerContext) {
        guard !self.processing else { return }
        self.processing = true
        defer { self.processing = false }
        while !self.closing, case .idle = self.busy, let buffer = self.input, buffer.readableBytes > 0 {
            switch self.server.parser.parse(buffer) {
            case .incomplete:
                if self.deadlineKind != .header {
                    self.setDeadline(.header, NIODeadline.now() + self.server.configuration.headerTimeout, context: context)
                }
                return
            case .failure(let error):
                if case .badRequest(let reason) = error {
                    self.server.logger.debug("refused malformed request", metadata: ["http.reason": "\(reason)"])
                }
                self.writeError(error.status, keepAlive: false, context: context)
                self.input = nil
                return
            case .request(let head):
                if head.method != .get, head.method != .head, let cache = self.server.cache {
                    // Forwarded methods need their whole body; a chunked one is refused (RFC 9110 §15.5.12).
                    if head.hasTransferEncoding || head.contentLength > cache.maxRequestBody {
                        self.writeError(head.hasTransferEncoding ? .lengthRequired : .contentTooLarge, keepAlive: false, context: context)
                        self.input = nil
                        return
                    }
                    if buffer.readableBytes < head.headLength + head.contentLength {
                        if self.deadlineKind != .header {
                            self.setDeadline(.header, NIODeadline.now() + self.server.configuration.headerTimeout, context: context)
                        }
                        return
                    }
                }
                // Consume first: a response can complete synchronously and resume this loop.
                self.input!.moveReaderIndex(forwardBy: head.headLength)
                if head.contentLength > 0 {
                    let available = min(head.contentLength, self.input!.readableBytes)
                    self.input!.moveReaderIndex(forwardBy: available)
                    self.discard = head.contentLength - available
                }
                buffer.withUnsafeReadableBytes { bytes in
                    self.respond(to: head, bytes: bytes, context: context)
                }
            }
        }
        if let buffer = self.input, buffer.readableBytes == 0 {
            self.input = nil
        }
        if self.input == nil, case .idle = self.busy, self.quiescing {
            self.closing = true
        }
        if self.input == nil, case .idle = self.busy, !self.closing {
            self.setDeadline(.idle, NIODeadline.now() + self.server.configuration.idleTimeout, context: context)
        }
    }

    /// Writes the batch buffer, flushes once, and closes when asked to.
    func flushBatch(context: ChannelHandlerContext) {
        if self.closing, !self.closed, case .idle = self.busy {
            self.closed = true
            let last = self.out
            self.out = ByteBuffer()
            self.recordBatch()
            context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(last))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        // Counted before the bytes leave, so a client that saw its response sees it counted.
        self.recordBatch()
        if self.out.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.byteBuffer(self.out)), promise: nil)
            self.needsFlush = true
        }
        if self.needsFlush {
            self.needsFlush = false
            context.flush()
            // After a flush the bytes are usually on the wire and the storage is ours again.
            self.out.clear()
        }
    }

    func recordBatch() {
        self.server.stats.record(byClass: &self.batchByClass, bytes: self.batchBytes)
        self.batchBytes = 0
        if self.cacheBatch.hits > 0 || self.cacheBatch.bytes > 0 {
            self.server.stats.cacheHit(count: self.cacheBatch.hits)
            self.server.stats.cacheBytesSent(self.cacheBatch.bytes)
            self.cacheBatch = (0, 0)
        }
    }

    /// Appends a ready-made part of a response, copying small ones into the batch buffer.
    @inline(__always)
    func emit(_ part: ByteBuffer, context: ChannelHandlerContext) {
        if part.readableBytes <= Self.copyLimit {
            self.out.writeImmutableBuffer(part)
        } else {
            if self.out.readableBytes > 0 {
                context.write(self.wrapOutboundOut(.byteBuffer(self.out)), promise: nil)
                self.out = context.channel.allocator.buffer(capacity: 16384)
            }
            context.write(self.wrapOutboundOut(.byteBuffer(part)), promise: nil)
            self.needsFlush = true
        }
    }

    /// Called when a streamed body or link response has been handed over completely.
    func finishBusy(context: ChannelHandlerContext) {
        self.busy = .idle
        if self.closed || self.processing { return }
        self.mount = self.server.volumes.current
        self.processInput(context: context)
        if !self.inReadBatch { self.flushBatch(context: context) }
        if self.pendingRead, !self.closing {
            self.pendingRead = false
            context.read()
        }
    }

    // MARK: - Timeouts

    func setDeadline(_ kind: DeadlineKind, _ at: NIODeadline, context: ChannelHandlerContext) {
        self.deadlineKind = kind
        self.deadline = at
        if self.timer == nil || at < self.timerAt {
            self.schedule(at: at, context: context)
        }
    }

    private func schedule(at: NIODeadline, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timerAt = at
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        self.timer = nil
        self.timerAt = .distantFuture
        guard !self.closed, self.deadlineKind != .none else { return }
        if NIODeadline.now() < self.deadline {
            self.schedule(at: self.deadline, context: context)
            return
        }
        switch self.busy {
        case .idle:
            break
        case .streaming:
            if self.deadlineKind == .stall {
                self.server.logger.debug("closing a connection whose client stopped reading")
                self.closed = true
                context.close(promise: nil)
            }
            return
        case .link:
            return
        }
        switch self.deadlineKind {
        case .header where (self.input?.readableBytes ?? 0) > 0:
            self.writeError(.requestTimeout, keepAlive: false, context: context)
            self.input = nil
        default:
            self.closing = true
        }
        self.flushBatch(context: context)
    }
}

@available(*, unavailable)
extension HTTPConnectionHandler: Sendable {}
