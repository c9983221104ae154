import HTTPToolkit
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 connection, after `NIOHTTP2Handler` (which owns the protocol: frames, HPACK, flow
/// control, stream limits and the attack heuristics). Streams are handled inline, without a
/// channel per stream.
///
/// Each request's fields are written as an HTTP/1.1 request head and parsed by the same
/// ``HTTPRequestParser`` (so both protocols accept and refuse the same requests), answered by the
/// same ``Responder`` (objects, ranges, conditionals, links, the cache), and the plan is framed
/// by ``HTTP2ResponseWriter``. Bodies in memory go out with their `HEADERS`; bodies in the volume
/// are read in steps and written as `DATA` frames no faster than the stream's flow-control window
/// lets them leave; relayed responses are passed on as they arrive. The connection's frames of
/// one read batch are flushed once.
package final class HTTP2ConnectionHandler: ChannelDuplexHandler {
    package typealias InboundIn = HTTP2Frame
    package typealias OutboundIn = Never
    package typealias OutboundOut = HTTP2Frame

    /// A stream's request and response, as far as they have got.
    private struct Stream {
        /// The request's fields while its body arrives.
        var fields: HPACKHeaders?
        /// The request body received so far (forwarded methods only).
        var body: ByteBuffer?
        /// The request body is larger than allowed: `413` once it ends.
        var bodyTooLarge = false
        var isHead = false
        /// A body streaming from the volume.
        var volumeBody: BodyStream?
        /// Bytes of `volumeBody` handed to the channel and not written yet.
        var inFlight = 0
        var relay: Relay?
    }

    /// A response relayed from upstream.
    private struct Relay {
        let request: UpstreamRequest
        let generation: Int
        /// The volume snapshot the request was answered from (a replacing plan serves from it).
        let mount: Mount
        var subscription: UpstreamSubscription?
        /// The fields are sent; nil before.
        var bodiless: Bool?
        var sent: Int64 = 0
    }

    /// Volume bytes per `DATA` write, and how many may wait for the window per stream.
    static let chunkSize = 64 * 1024
    static let maxInFlightPerStream = 4 * 64 * 1024

    private let server: ServerContext
    private var writer: HTTP2ResponseWriter
    private var streams: [HTTP2StreamID: Stream] = [:]
    /// The HTTP/1.1 request head of the stream being answered; reused.
    private var scratch: ByteBuffer
    private var context: ChannelHandlerContext?
    private var isReading = false
    private var needsFlush = false
    private var quiescing = false
    private var lastStreamID = HTTP2StreamID(0)
    private var relayGeneration = 0
    /// The connection closes when nothing happened for this long: no request yet (the header
    /// timeout), or no frame and no body progress (the idle timeout).
    private var deadline: NIODeadline
    private var timer: Scheduled<Void>?
    private var sawRequest = false

    package init(server: ServerContext, dates: DateCache) {
        self.server = server
        self.writer = HTTP2ResponseWriter(dates: dates, serverName: server.configuration.serverName)
        self.scratch = ByteBuffer()
        self.deadline = .now() + server.configuration.headerTimeout
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.scratch = context.channel.allocator.buffer(capacity: 1024)
        self.server.stats.connectionOpened()
        self.scheduleTimer(context: context)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
    }

    package func channelInactive(context: ChannelHandlerContext) {
        self.server.stats.connectionClosed()
        self.writer.record(into: self.server.stats)
        self.timer?.cancel()
        self.timer = nil
        for stream in self.streams.values { stream.relay?.subscription?.cancel() }
        self.streams.removeAll()
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.isReading = true
        let frame = self.unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            self.receivedHeaders(headers, on: frame.streamID, context: context)
        case .data(let data):
            self.receivedData(data, on: frame.streamID, context: context)
        case .rstStream:
            self.streamEnded(frame.streamID)
        default:
            break
        }
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        self.isReading = false
        self.deadline = .now() + (self.sawRequest ? self.server.configuration.idleTimeout : self.server.configuration.headerTimeout)
        self.flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for id in self.streams.keys where self.streams[id]?.volumeBody != nil { self.pump(id, context: context) }
            self.flushIfNeeded(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            self.streamEnded(closed.streamID)
            self.closeIfDone(context: context)
        } else if event is QuiesceEvent {
            self.quiesce(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIOHTTP2Handler has answered protocol errors (GOAWAY or RST_STREAM) already.
        self.server.logger.debug("http2 connection error", metadata: ["error": "\(error)"])
        if !(error is NIOHTTP2Errors.StreamClosed) && !(error is NIOHTTP2Errors.NoSuchStream) {
            context.close(promise: nil)
        }
    }

    // MARK: - Requests

    private func receivedHeaders(_ headers: HTTP2Frame.FramePayload.Headers, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        if self.streams[id] != nil {
            // Trailers end the request body; their fields are not used.
            if headers.endStream { self.requestEnded(id, context: context) }
            return
        }
        self.sawRequest = true
        if id > self.lastStreamID { self.lastStreamID = id }
        var stream = Stream()
        stream.isHead = headers.headers.first(name: ":method") == "HEAD"
        if headers.endStream {
            self.streams[id] = stream
            self.answer(id, fields: headers.headers, body: nil, context: context)
        } else {
            stream.fields = headers.headers
            self.streams[id] = stream
        }
    }

    private func receivedData(_ data: HTTP2Frame.FramePayload.Data, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        let count = data.data.readableBytes + (data.paddingBytes ?? 0)
        // Without a stream channel the windows are ours to reopen.
        if count > 0 {
            context.write(self.wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: count))), promise: nil)
            if !data.endStream {
                context.write(self.wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: count))), promise: nil)
            }
            self.needsFlush = true
        }
        guard var stream = self.streams[id], stream.fields != nil else { return }
        // Only a cache forwards bodies; without one they are dropped as HTTP/1.1 skips them.
        if case .byteBuffer(var bytes) = data.data, !stream.bodyTooLarge, let limit = self.server.cache?.maxRequestBody {
            if (stream.body?.readableBytes ?? 0) + bytes.readableBytes > limit {
                stream.bodyTooLarge = true
                stream.body = nil
            } else if stream.body == nil {
                stream.body = bytes
            } else {
                stream.body!.writeBuffer(&bytes)
            }
        }
        self.streams[id] = stream
        if data.endStream { self.requestEnded(id, context: context) }
    }

    /// The request's body is complete.
    private func requestEnded(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var stream = self.streams[id], let fields = stream.fields else { return }
        stream.fields = nil
        let body = stream.body
        stream.body = nil
        self.streams[id] = stream
        if stream.bodyTooLarge {
            self.sendError(.contentTooLarge, on: id, context: context)
            return
        }
        self.answer(id, fields: fields, body: body ?? ByteBuffer(), context: context)
    }

    /// Answers the request of stream `id`: its fields as an HTTP/1.1 head, parsed and answered as
    /// HTTP/1.1 requests are.
    private func answer(_ id: HTTP2StreamID, fields: HPACKHeaders, body: ByteBuffer?, context: ChannelHandlerContext) {
        self.scratch.clear()
        guard Self.writeRequestHead(fields, bodyLength: body?.readableBytes, into: &self.scratch) else {
            self.sendError(.badRequest, on: id, context: context)
            return
        }
        if var body { self.scratch.writeBuffer(&body) }
        switch self.server.parser.parse(self.scratch) {
        case .incomplete:
            self.sendError(.badRequest, on: id, context: context)
        case .failure(let error):
            self.sendError(error.status, on: id, context: context)
        case .request(let head):
            if case .refuse(let status) = self.server.responder.body(of: head) {
                self.sendError(status, on: id, context: context)
                return
            }
            // Taken per request and held only by what is in progress: an idle connection must not
            // keep the chunks of objects evicted since.
            let mount = self.server.volumes.current
            let plan = self.scratch.withUnsafeReadableBytes { bytes in
                let plan = self.server.responder.respond(to: head, in: bytes, mount: mount, on: context.eventLoop)
                if self.server.configuration.accessLog { self.logAccess(head, in: bytes, status: plan.status, context: context) }
                return plan
            }
            self.perform(plan, on: id, mount: mount, context: context)
        }
    }

    /// Writes the request's fields as an HTTP/1.1 request head; false when they cannot be one
    /// (no `:method` or `:path`, or bytes that would end a line or a name early).
    static func writeRequestHead(_ fields: HPACKHeaders, bodyLength: Int?, into out: inout ByteBuffer) -> Bool {
        var method: String?
        var path: String?
        var authority: String?
        for (name, value, _) in fields where name.utf8.first == UInt8(ascii: ":") {
            switch name {
            case ":method": method = value
            case ":path": path = value
            case ":authority": authority = value
            default: break
            }
        }
        guard let method, let path, Self.isSafe(method, name: true), Self.isSafe(path, name: true) else { return false }
        out.writeString(method)
        out.writeStaticString(" ")
        out.writeString(path)
        out.writeStaticString(" HTTP/1.1\r\n")
        if let authority {
            guard Self.isSafe(authority, name: false) else { return false }
            out.writeStaticString("host: ")
            out.writeString(authority)
            out.writeStaticString("\r\n")
        }
        for (name, value, _) in fields where name.utf8.first != UInt8(ascii: ":") {
            if name == "host", authority != nil { continue }
            if name == "content-length", bodyLength != nil { continue }
            guard Self.isSafe(name, name: true), Self.isSafe(value, name: false) else { return false }
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if let bodyLength {
            out.writeStaticString("content-length: ")
            out.writeString(String(bodyLength))
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
        return true
    }

    /// No CR, LF or NUL (they would split the head), and for names and the request line no
    /// space or colon either (values may have both: `gzip, deflate`); the parser checks the rest.
    private static func isSafe(_ text: String, name: Bool) -> Bool {
        for byte in text.utf8 {
            switch byte {
            case 0, 10, 13: return false
            case 32 where name, 58 where name: return false
            default: continue
            }
        }
        return true
    }

    // MARK: - Responses

    private func perform(_ plan: ResponsePlan, on id: HTTP2StreamID, mount: Mount, context: ChannelHandlerContext) {
        guard let stream = self.streams[id] else { return }
        switch self.writer.write(plan, isHead: stream.isHead, mount: mount) {
        case .complete(let fields, let body):
            self.send(fields, body: body, on: id, context: context)
        case .stream(let fields, let body):
            body.counters.recordStart()
            self.writeFrame(.headers(.init(headers: fields, endStream: false)), on: id, context: context)
            self.streams[id]?.volumeBody = body
            self.pump(id, context: context)
        case .relay(let request):
            self.startRelay(request, on: id, mount: mount, context: context)
        }
        self.flushIfNeeded(context: context)
    }

    private func sendError(_ status: HTTPStatus, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        let (fields, body) = self.writer.writeError(status, isHead: self.streams[id]?.isHead ?? false)
        self.send(fields, body: body, on: id, context: context)
        self.flushIfNeeded(context: context)
    }

    /// Writes a whole response and forgets the stream.
    private func send(_ fields: HPACKHeaders, body: ByteBuffer?, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        self.writeFrame(.headers(.init(headers: fields, endStream: body == nil)), on: id, context: context)
        if let body { self.writeFrame(.data(.init(data: .byteBuffer(body), endStream: true)), on: id, context: context) }
        self.streams[id] = nil
    }

    private func writeFrame(_ payload: HTTP2Frame.FramePayload, on id: HTTP2StreamID, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        context.write(self.wrapOutboundOut(HTTP2Frame(streamID: id, payload: payload)), promise: promise)
        self.needsFlush = true
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard self.needsFlush, !self.isReading else { return }
        self.needsFlush = false
        self.writer.record(into: self.server.stats)
        context.flush()
        self.closeIfDone(context: context)
    }

    // MARK: - Bodies from the volume

    /// Hands `DATA` frames of stream `id`'s body to the channel while the channel is writable
    /// and no more than ``maxInFlightPerStream`` bytes wait for the stream's window.
    private func pump(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var stream = self.streams[id], var body = stream.volumeBody else { return }
        while context.channel.isWritable, stream.inFlight < Self.maxInFlightPerStream, let piece = body.next(chunkSize: Int64(Self.chunkSize)) {
            let buffer: ByteBuffer
            switch piece {
            case .buffer(let bytes):
                buffer = bytes
            case .file(let offset, let length):
                var bytes = context.channel.allocator.buffer(capacity: Int(length))
                guard body.mount.read(into: &bytes, at: offset, count: Int(length)) else {
                    self.server.logger.error("cannot read the volume")
                    self.streams[id] = nil
                    self.writeFrame(.rstStream(.internalError), on: id, context: context)
                    return
                }
                buffer = bytes
            }
            let count = buffer.readableBytes
            stream.inFlight += count
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { result in
                self.partWritten(count, on: id, result: result, context: context)
            }
            self.writeFrame(.data(.init(data: .byteBuffer(buffer), endStream: body.isHandedOver)), on: id, context: context, promise: promise)
        }
        stream.volumeBody = body
        self.streams[id] = stream
    }

    private func partWritten(_ count: Int, on id: HTTP2StreamID, result: Result<Void, any Error>, context: ChannelHandlerContext) {
        guard var stream = self.streams[id], var body = stream.volumeBody else { return }
        guard case .success = result else {
            // The stream was reset or the connection closed.
            self.streams[id] = nil
            return
        }
        self.deadline = .now() + self.server.configuration.idleTimeout
        stream.inFlight -= count
        if body.written(Int64(count)) {
            self.streams[id] = nil
        } else {
            stream.volumeBody = body
            self.streams[id] = stream
            self.pump(id, context: context)
        }
        self.flushIfNeeded(context: context)
    }

    // MARK: - Relaying from upstream

    private func startRelay(_ request: UpstreamRequest, on id: HTTP2StreamID, mount: Mount, context: ChannelHandlerContext) {
        if case .link(_, let object) = request { object.counters.recordStart() }
        self.relayGeneration &+= 1
        let generation = self.relayGeneration
        self.streams[id]?.relay = Relay(request: request, generation: generation, mount: mount)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let subscription = self.server.responder.startRelay(request, on: context.eventLoop) { event in
            handler.value.upstreamEvent(event, on: id, generation: generation)
        }
        // An answer can come before `startRelay` returns and end the relay.
        if self.streams[id]?.relay?.generation == generation {
            self.streams[id]!.relay!.subscription = subscription
        } else {
            subscription.cancel()
        }
    }

    private func upstreamEvent(_ event: UpstreamEvent, on id: HTTP2StreamID, generation: Int) {
        guard let context = self.context, let stream = self.streams[id], var relay = stream.relay, relay.generation == generation else { return }
        switch event {
        case .informational(let head):
            // Only before the final response's fields.
            guard relay.bodiless == nil, let interim = RelayHead(interim: head) else { return }
            self.writeFrame(.headers(.init(headers: self.writer.writeInterim(interim), endStream: false)), on: id, context: context)
        case .response(let head, let joined):
            switch self.server.responder.upstreamAnswered(head, to: relay.request, joined: joined, mount: relay.mount) {
            case .relay(let relayHead):
                let fields = self.writer.writeRelayHead(relayHead, isHead: stream.isHead)
                self.writeFrame(.headers(.init(headers: fields.fields, endStream: fields.bodiless)), on: id, context: context)
                if fields.bodiless {
                    relay.subscription?.cancel()
                    self.streams[id] = nil
                } else {
                    relay.bodiless = false
                    self.streams[id]?.relay = relay
                }
            case .replace(let plan):
                self.replaceRelay(on: id, with: plan, context: context)
            }
        case .body(let bytes):
            guard relay.bodiless == false, bytes.readableBytes > 0 else { return }
            self.writer.countBody(bytes.readableBytes)
            self.writeFrame(.data(.init(data: .byteBuffer(bytes), endStream: false)), on: id, context: context)
            if case .link(_, let object) = relay.request {
                object.counters.recordProgress(before: relay.sent, after: relay.sent + Int64(bytes.readableBytes), total: relay.sent + Int64(bytes.readableBytes))
            }
            relay.sent += Int64(bytes.readableBytes)
            self.streams[id]?.relay = relay
        case .end:
            if relay.bodiless == false { self.writeFrame(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)), on: id, context: context) }
            if case .link(_, let object) = relay.request { object.counters.recordCompletion() }
            relay.subscription?.cancel()
            self.streams[id] = nil
        case .failed(let status, let message):
            if relay.bodiless != nil {
                // The fields are out: the only way to signal the failure is to reset the stream.
                relay.subscription?.cancel()
                self.streams[id] = nil
                self.writeFrame(.rstStream(.internalError), on: id, context: context)
                break
            }
            self.server.logger.warning("origin fetch failed", metadata: ["origin.status": "\(status.code)", "error": "\(message)"])
            if let plan = self.server.responder.upstreamFailed(relay.request) {
                self.replaceRelay(on: id, with: plan, context: context)
                return
            }
            relay.subscription?.cancel()
            self.sendError(status, on: id, context: context)
        case .fetchSeparately:
            guard case .cache(var exchange) = relay.request else { return }
            exchange.fillKey = nil
            self.replaceRelay(on: id, with: .relay(.cache(exchange)), context: context)
        }
        self.flushIfNeeded(context: context)
    }

    private func replaceRelay(on id: HTTP2StreamID, with plan: ResponsePlan, context: ChannelHandlerContext) {
        guard let relay = self.streams[id]?.relay else { return }
        relay.subscription?.cancel()
        self.streams[id]?.relay = nil
        self.perform(plan, on: id, mount: relay.mount, context: context)
    }

    // MARK: - Life of the connection

    private func streamEnded(_ id: HTTP2StreamID) {
        guard let stream = self.streams.removeValue(forKey: id) else { return }
        stream.relay?.subscription?.cancel()
    }

    /// Shutting down: no new streams (GOAWAY); close once the open ones are answered.
    private func quiesce(context: ChannelHandlerContext) {
        guard !self.quiescing else { return }
        self.quiescing = true
        self.writeFrame(.goAway(lastStreamID: self.lastStreamID, errorCode: .noError, opaqueData: nil), on: .rootStream, context: context)
        self.needsFlush = true
        let reading = self.isReading
        self.isReading = false
        self.flushIfNeeded(context: context)
        self.isReading = reading
        self.closeIfDone(context: context)
    }

    private func closeIfDone(context: ChannelHandlerContext) {
        guard self.quiescing, self.streams.isEmpty, context.channel.isActive else { return }
        context.close(promise: nil)
    }

    private func scheduleTimer(context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: self.deadline) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        self.timer = nil
        let busy = self.streams.values.contains { $0.relay != nil }
        if busy || NIODeadline.now() < self.deadline {
            // Relays have upstream's own timeouts.
            if busy { self.deadline = .now() + self.server.configuration.idleTimeout }
            self.scheduleTimer(context: context)
            return
        }
        self.server.logger.debug("closing an idle http2 connection")
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: self.lastStreamID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(self.wrapOutboundOut(goAway)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func logAccess(_ head: RequestHead, in bytes: UnsafeRawBufferPointer, status: HTTPStatus, context: ChannelHandlerContext) {
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.target.lowerBound..<head.target.upperBound]), as: UTF8.self)
        self.server.logger.info(
            "request",
            metadata: [
                "http.method": "\(head.method == .get ? "GET" : head.method == .head ? "HEAD" : "other")",
                "http.target": "\(target)", "http.status": "\(status.code)", "http.version": "2",
                "net.peer": "\(context.remoteAddress?.description ?? "?")",
            ]
        )
    }
}

@available(*, unavailable)
extension HTTP2ConnectionHandler: Sendable {}
