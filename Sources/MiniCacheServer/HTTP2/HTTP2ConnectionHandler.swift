import HTTPToolkit
import Logging
import NIOCore
import NIOHPACK

/// One HTTP/2 connection (RFC 9113), server side, directly on the TLS handler's bytes: frames cut
/// by ``HTTP2FrameReader``, header blocks decoded by NIOHPACK's `HPACKDecoder`, the protocol's
/// state kept by ``HTTP2ConnectionStateMachine`` (whose actions this handler carries out), each
/// open stream's request and response in one table, and every frame the server sends written into
/// one buffer per read batch.
///
/// Each request's fields are written as an HTTP/1.1 request head (``HTTP2RequestFields``) and
/// parsed by the same ``HTTPRequestParser`` (so both protocols accept and refuse the same
/// requests), answered by the same ``Responder`` (objects, ranges, conditionals, links, the
/// cache), and the plan is framed by ``HTTP2ResponseWriter``. Bodies go out as `DATA` frames no
/// faster than the client's flow-control windows let them; bodies in the volume are read straight
/// into the output as the windows open; relayed bodies wait in memory for the window.
///
/// Limits and defences: `SETTINGS_MAX_CONCURRENT_STREAMS` (a stream over it is refused with
/// `REFUSED_STREAM`), `SETTINGS_MAX_HEADER_LIST_SIZE` (a larger request gets `431`, and a block
/// that decodes to far more ends the connection: the HPACK bomb), the frame reader's bounds on
/// header blocks (the CONTINUATION flood), and ``HTTP2ConnectionStateMachine/abuseLimit`` frames
/// that cost the server and give the client nothing — resets (rapid reset), SETTINGS and PING
/// (floods), PRIORITY, empty frames, refused streams — per
/// ``HTTP2ConnectionStateMachine/abuseWindow``, beyond which the connection ends with
/// `GOAWAY ENHANCE_YOUR_CALM`.
package final class HTTP2ConnectionHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// An open stream's request and response, as far as they have got; its protocol state is the
    /// state machine's.
    private struct Exchange {
        /// The request's fields while its body arrives.
        var fields: HPACKHeaders?
        /// The request body received so far (forwarded methods only).
        var body: ByteBuffer?
        /// The request body's length so far, kept or not.
        var bodyLength = 0
        /// The request body is larger than allowed: `413` once it ends.
        var bodyTooLarge = false
        var isHead = false
        /// Body bytes waiting for the window, and whether the stream ends after them.
        var pending: ByteBuffer?
        var endsAfterPending = false
        /// A body streaming from the volume, after `pending`.
        var volumeBody: BodyStream?
        var relay: Relay?

        var hasBodyToSend: Bool { self.pending != nil || self.endsAfterPending || self.volumeBody != nil }
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
        /// Upstream was told the client is behind (``HTTP2ConnectionHandler/behindThreshold``).
        var isBehind = false
    }

    /// The output buffer is handed to the channel when it holds this much, even within a read.
    static let batchLimit = 256 * 1024
    /// Relayed bytes waiting for a stream's window or the channel beyond which upstream is told
    /// the client is behind (a fetch stops reading its origin while none of its viewers keeps up).
    static let behindThreshold = 256 << 10
    /// Volume bytes read per `DATA` frame at most (the client's frame size may be larger).
    static let maxVolumeFrame = 64 * 1024

    private let server: ServerContext
    /// Unchecked: its methods never call back into the handler, so accesses cannot overlap.
    @exclusivity(unchecked) private var machine: HTTP2ConnectionStateMachine
    private var writer: HTTP2ResponseWriter
    private var reader: HTTP2FrameReader
    private var decoder: HPACKDecoder
    private var exchanges: [UInt32: Exchange] = [:]
    /// Streams with a body to send, in the order they got one.
    private var sending: [UInt32] = []
    /// The frames written since the last flush.
    private var out: ByteBuffer
    /// The HTTP/1.1 request head of the stream being answered; reused.
    private var scratch: ByteBuffer
    private var context: ChannelHandlerContext?
    private var isReading = false
    private var isFlushing = false
    private var relayGeneration = 0
    private var timer: Scheduled<Void>?

    package init(server: ServerContext, dates: DateCache, maxConcurrentStreams: Int, maxHeaderListSize: Int) {
        self.server = server
        self.machine = HTTP2ConnectionStateMachine(
            maxConcurrentStreams: maxConcurrentStreams,
            maxHeaderListSize: maxHeaderListSize,
            headerTimeout: server.configuration.headerTimeout,
            idleTimeout: server.configuration.idleTimeout,
            now: .now()
        )
        self.writer = HTTP2ResponseWriter(dates: dates, serverName: server.configuration.serverName)
        // A block may encode a list of up to this size; beyond it only an attack's.
        self.reader = HTTP2FrameReader(maxHeaderBlock: max(maxHeaderListSize, 16384) + 16384)
        self.decoder = HPACKDecoder(
            allocator: ByteBufferAllocator(),
            maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
            maxHeaderListSize: max(4 * maxHeaderListSize, 65536)
        )
        self.scratch = ByteBuffer()
        self.out = ByteBuffer()
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.scratch = context.channel.allocator.buffer(capacity: 1024)
        self.out = context.channel.allocator.buffer(capacity: 16384)
        self.server.stats.connectionOpened()
        HTTP2Wire.writeSettings(self.machine.localSettings, into: &self.out)
        self.writeOutput(context: context)
        self.scheduleTimer(at: self.machine.deadline, context: context)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
    }

    package func channelInactive(context: ChannelHandlerContext) {
        self.machine.channelInactive()
        self.server.stats.connectionClosed()
        self.writer.record(into: self.server.stats)
        self.timer?.cancel()
        self.timer = nil
        for exchange in self.exchanges.values { exchange.relay?.subscription?.cancel() }
        self.exchanges.removeAll()
        self.sending.removeAll()
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard self.machine.lifecycle != .closed else { return }
        self.isReading = true
        self.reader.append(self.unwrapInboundIn(data))
        do {
            while self.machine.lifecycle != .closed, let frame = try self.reader.next() {
                try self.received(frame, context: context)
            }
        } catch {
            self.fail(error, context: context)
        }
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        assert(self.exchanges.count == self.machine.openStreams, "an exchange without an open stream, or the reverse")
        self.isReading = false
        self.machine.readCompleted(now: .now())
        self.flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.sendBodies(context: context)
            self.flushIfNeeded(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is QuiesceEvent { self.quiesce(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.server.logger.debug("http2 connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Frames

    private func received(_ frame: HTTP2FrameReader.Frame, context: ChannelHandlerContext) throws(HTTP2FrameReader.ConnectionError) {
        switch frame {
        case .headers(let id, let block, let endStream, let dependsOnItself):
            // Decoded even when the stream is refused: the block changes the decoder's table.
            var block = block
            let fields: HPACKHeaders
            do {
                fields = try self.decoder.decodeHeaders(from: &block)
            } catch {
                throw .init(code: .compressionError, reason: "a header block that does not decode: \(error)")
            }
            switch try self.machine.receivedHeaders(on: id, endStream: endStream, dependsOnItself: dependsOnItself, now: .now()) {
            case .ignore:
                break
            case .open(let bodyFollows):
                self.opened(id, fields: fields, bodyFollows: bodyFollows, context: context)
            case .requestEnded:
                // Trailers carry no pseudo-header fields (RFC 9113 §8.1); their fields are not used.
                guard !fields.contains(where: { $0.name.utf8.first == UInt8(ascii: ":") }) else {
                    self.resetStream(id, .protocolError)
                    return
                }
                self.requestEnded(id, context: context)
            case .reset(let code):
                self.resetStream(id, code)
            }
        case .data(let id, let bytes, let endStream, let flowControlled):
            switch try self.machine.receivedData(on: id, flowControlled: flowControlled, endStream: endStream, now: .now()) {
            case .drop(let windowIncrement):
                self.reopenWindow(windowIncrement)
            case .deliver(let windowIncrement, let streamIncrement, let endStream):
                self.reopenWindow(windowIncrement)
                if streamIncrement > 0 { HTTP2Wire.writeWindowUpdate(id, increment: streamIncrement, into: &self.out) }
                self.receivedBody(id, bytes: bytes, endStream: endStream, context: context)
            case .reset(let windowIncrement, let code):
                self.reopenWindow(windowIncrement)
                self.resetStream(id, code)
            }
        case .priority(let id, let dependsOnItself):
            if case .reset(let code) = try self.machine.receivedPriority(on: id, dependsOnItself: dependsOnItself, now: .now()) {
                self.resetStream(id, code)
            }
        case .rstStream(let id):
            if try self.machine.receivedRSTStream(on: id, now: .now()) { self.streamClosed(id) }
        case .settings(let payload):
            try self.machine.receivedSettings(payload, now: .now())
            HTTP2Wire.writeSettingsAck(into: &self.out)
            self.sendBodies(context: context)
        case .ping(let opaque):
            try self.machine.receivedPing(now: .now())
            HTTP2Wire.writePingAck(opaque, into: &self.out)
        case .windowUpdate(let id, let increment):
            switch try self.machine.receivedWindowUpdate(on: id, increment: increment, now: .now()) {
            case .none:
                break
            case .resumeConnection:
                self.sendBodies(context: context)
            case .resumeStream:
                self.sendBody(id, context: context)
            case .reset(let code):
                self.resetStream(id, code)
            }
        case .goAway:
            self.machine.receivedGoAway()
            self.closeIfDone(context: context)
        case .settingsAck, .pingAck, .unknown:
            break
        }
    }

    /// The server reopens the connection's window at once: bodies it keeps are bounded by the
    /// cache's limit.
    private func reopenWindow(_ increment: Int) {
        if increment > 0 { HTTP2Wire.writeWindowUpdate(0, increment: increment, into: &self.out) }
    }

    // MARK: - Requests

    /// Stream `id` opened with the request `fields`.
    private func opened(_ id: UInt32, fields: HPACKHeaders, bodyFollows: Bool, context: ChannelHandlerContext) {
        var exchange = Exchange()
        exchange.isHead = fields.first(name: ":method") == "HEAD"
        if HTTP2RequestFields.listSize(fields) > self.machine.maxHeaderListSize {
            self.machine.ignoreRequestBody(on: id)
            self.exchanges[id] = exchange
            self.sendError(.headersTooLarge, on: id, context: context)
            return
        }
        guard bodyFollows else {
            self.exchanges[id] = exchange
            self.answer(id, fields: fields, body: nil, context: context)
            return
        }
        exchange.fields = fields
        self.exchanges[id] = exchange
        self.checkBeforeBody(id, fields: fields, context: context)
    }

    /// A request's body is coming: a request that will be refused is answered now, and a client
    /// that expects `100-continue` gets it (RFC 9110 §10.1.1).
    private func checkBeforeBody(_ id: UInt32, fields: HPACKHeaders, context: ChannelHandlerContext) {
        self.scratch.clear()
        guard HTTP2RequestFields.writeHead(fields, bodyLength: nil, into: &self.scratch) else { return }
        guard case .request(let head) = self.server.parser.parse(self.scratch) else { return }
        switch self.server.responder.body(of: head) {
        case .refuse(let status):
            // Answered at once; the body need not come (RFC 9113 §8.1).
            self.machine.ignoreRequestBody(on: id)
            self.exchanges[id]?.fields = nil
            self.sendError(status, on: id, context: context)
            if self.exchanges[id] == nil { HTTP2Wire.writeRSTStream(id, .noError, into: &self.out) }
        case .whole:
            let expects = fields[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
            if expects {
                self.writeHeaders(self.writer.writeContinue(), on: id, endStream: false)
            }
        case .skip:
            break
        }
    }

    /// Bytes of stream `id`'s request body.
    private func receivedBody(_ id: UInt32, bytes: ByteBuffer, endStream: Bool, context: ChannelHandlerContext) {
        guard var exchange = self.exchanges[id] else { return }
        exchange.bodyLength += bytes.readableBytes
        // Only a cache forwards bodies; without one they are dropped as HTTP/1.1 skips them.
        if !exchange.bodyTooLarge, let limit = self.server.cache?.maxRequestBody, bytes.readableBytes > 0 {
            var bytes = bytes
            if (exchange.body?.readableBytes ?? 0) + bytes.readableBytes > limit {
                exchange.bodyTooLarge = true
                exchange.body = nil
            } else if exchange.body == nil {
                exchange.body = bytes
            } else {
                exchange.body!.writeBuffer(&bytes)
            }
        }
        self.exchanges[id] = exchange
        if endStream { self.requestEnded(id, context: context) }
    }

    /// The request's body is complete.
    private func requestEnded(_ id: UInt32, context: ChannelHandlerContext) {
        guard var exchange = self.exchanges[id], let fields = exchange.fields else { return }
        exchange.fields = nil
        let body = exchange.body
        exchange.body = nil
        self.exchanges[id] = exchange
        if exchange.bodyTooLarge {
            self.sendError(.contentTooLarge, on: id, context: context)
            return
        }
        // A content-length other than the body's makes the request malformed (RFC 9113 §8.1.1).
        guard fields[canonicalForm: "content-length"].allSatisfy({ Int($0) == exchange.bodyLength }) else {
            self.sendError(.badRequest, on: id, context: context)
            return
        }
        self.answer(id, fields: fields, body: body ?? ByteBuffer(), context: context)
    }

    /// Answers the request of stream `id`: its fields as an HTTP/1.1 head, parsed and answered as
    /// HTTP/1.1 requests are.
    private func answer(_ id: UInt32, fields: HPACKHeaders, body: ByteBuffer?, context: ChannelHandlerContext) {
        self.scratch.clear()
        guard HTTP2RequestFields.writeHead(fields, bodyLength: body?.readableBytes, into: &self.scratch) else {
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

    // MARK: - Responses

    private func perform(_ plan: ResponsePlan, on id: UInt32, mount: Mount, context: ChannelHandlerContext) {
        guard let exchange = self.exchanges[id] else { return }
        switch self.writer.write(plan, isHead: exchange.isHead, mount: mount) {
        case .complete(let block, let body):
            self.send(block, body: body, on: id, context: context)
        case .stream(let block, let body):
            body.counters.recordStart()
            self.writeHeaders(block, on: id, endStream: false)
            self.exchanges[id]!.volumeBody = body
            self.sending.append(id)
            self.sendBody(id, context: context)
        case .relay(let request):
            self.startRelay(request, on: id, mount: mount, context: context)
        }
        self.flushIfNeeded(context: context)
    }

    private func sendError(_ status: HTTPStatus, on id: UInt32, context: ChannelHandlerContext) {
        let (block, body) = self.writer.writeError(status, isHead: self.exchanges[id]?.isHead ?? false)
        self.send(block, body: body, on: id, context: context)
        self.flushIfNeeded(context: context)
    }

    /// Writes a whole response: the body as far as the windows let it, the rest when they open.
    private func send(_ block: ByteBuffer, body: ByteBuffer?, on id: UInt32, context: ChannelHandlerContext) {
        guard var exchange = self.exchanges[id] else { return }
        guard var body else {
            self.writeHeaders(block, on: id, endStream: true)
            self.responseEnded(id)
            return
        }
        self.writeHeaders(block, on: id, endStream: false)
        let count = body.readableBytes
        if self.machine.endStream(sending: count, on: id) {
            // The usual case, without the stream's bookkeeping.
            HTTP2Wire.writeFrameHeader(length: count, type: .data, flags: HTTP2Wire.Flag.endStream, stream: id, into: &self.out)
            self.out.writeBuffer(&body)
            self.exchanges.removeValue(forKey: id)?.relay?.subscription?.cancel()
            return
        }
        exchange.pending = body
        exchange.endsAfterPending = true
        self.exchanges[id] = exchange
        self.sending.append(id)
        self.sendBody(id, context: context)
    }

    private func writeHeaders(_ block: ByteBuffer, on id: UInt32, endStream: Bool) {
        if self.machine.headerBlockNeedsTableSizeUpdate() {
            var prefixed = ByteBuffer(integer: HPACKLiteralWriter.emptyTableUpdate)
            prefixed.writeImmutableBuffer(block)
            HTTP2Wire.writeHeaders(prefixed, stream: id, endStream: endStream, maxFrameSize: self.machine.maxFrameSize, into: &self.out)
        } else {
            HTTP2Wire.writeHeaders(block, stream: id, endStream: endStream, maxFrameSize: self.machine.maxFrameSize, into: &self.out)
        }
    }

    /// The server's end of stream `id` is written.
    private func responseEnded(_ id: UInt32) {
        self.machine.sentEndStream(on: id)
        self.exchanges.removeValue(forKey: id)?.relay?.subscription?.cancel()
    }

    /// Writes `DATA` frames of the streams with bodies to send, as far as windows and output
    /// room allow.
    private func sendBodies(context: ChannelHandlerContext) {
        guard !self.sending.isEmpty else { return }
        for id in self.sending {
            if self.machine.connectionWindow <= 0 || self.out.readableBytes >= Self.batchLimit { break }
            self.sendBody(id, context: context, list: false)
        }
        self.sending.removeAll { self.exchanges[$0]?.hasBodyToSend != true }
    }

    /// Writes `DATA` frames of stream `id`'s body as far as the windows let it; the rest waits
    /// in `pending` or in the volume.
    private func sendBody(_ id: UInt32, context: ChannelHandlerContext, list: Bool = true) {
        guard var exchange = self.exchanges[id], exchange.hasBodyToSend else { return }
        var ended = false
        sending: while true {
            let allowed = self.machine.sendableBytes(on: id)
            if var pending = exchange.pending {
                guard allowed > 0, context.channel.isWritable, self.out.readableBytes < Self.batchLimit else { break }
                let count = min(allowed, pending.readableBytes)
                let last = count == pending.readableBytes && exchange.endsAfterPending && exchange.volumeBody == nil
                HTTP2Wire.writeFrameHeader(length: count, type: .data, flags: last ? HTTP2Wire.Flag.endStream : 0, stream: id, into: &self.out)
                self.out.writeImmutableBuffer(pending.readSlice(length: count)!)
                self.machine.sent(count, on: id)
                exchange.pending = pending.readableBytes > 0 ? pending : nil
                if last {
                    ended = true
                    break
                }
            } else if var body = exchange.volumeBody {
                guard allowed > 0, context.channel.isWritable, self.out.readableBytes < Self.batchLimit else { break }
                guard let piece = body.next(chunkSize: Int64(min(allowed, Self.maxVolumeFrame))) else {
                    exchange.volumeBody = nil
                    continue
                }
                switch piece {
                case .buffer(let bytes):
                    _ = body.written(Int64(bytes.readableBytes))
                    exchange.pending = bytes
                    exchange.volumeBody = body.isHandedOver ? nil : body
                    exchange.endsAfterPending = true
                case .file(let offset, let length):
                    let count = Int(length)
                    let header = self.out.writerIndex
                    let last = body.isHandedOver
                    HTTP2Wire.writeFrameHeader(length: count, type: .data, flags: last ? HTTP2Wire.Flag.endStream : 0, stream: id, into: &self.out)
                    guard body.mount.read(into: &self.out, at: offset, count: count) else {
                        self.out.moveWriterIndex(to: header)
                        self.server.logger.error("cannot read the volume")
                        HTTP2Wire.writeRSTStream(id, .internalError, into: &self.out)
                        self.machine.sentReset(on: id)
                        self.exchanges[id] = nil
                        return
                    }
                    _ = body.written(length)
                    self.machine.sent(count, on: id)
                    self.machine.bodyProgressed(now: .now())
                    if last {
                        ended = true
                        break sending
                    }
                    exchange.volumeBody = body
                }
            } else if exchange.endsAfterPending {
                HTTP2Wire.writeFrameHeader(length: 0, type: .data, flags: HTTP2Wire.Flag.endStream, stream: id, into: &self.out)
                ended = true
                break
            } else {
                break
            }
        }
        if var relay = exchange.relay, relay.isBehind, (exchange.pending?.readableBytes ?? 0) < Self.behindThreshold {
            relay.isBehind = false
            exchange.relay = relay
            relay.subscription?.viewerBacklogged(false)
        }
        if ended {
            exchange.pending = nil
            exchange.volumeBody = nil
            exchange.endsAfterPending = false
            self.exchanges[id] = exchange
            self.responseEnded(id)
        } else {
            self.exchanges[id] = exchange
            if list, exchange.hasBodyToSend, !self.sending.contains(id) { self.sending.append(id) }
        }
    }

    // MARK: - Output

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard !self.isReading || self.out.readableBytes >= Self.batchLimit else { return }
        self.writeOutput(context: context)
    }

    /// Hands the output to the channel; then, while the channel takes more, the bodies that
    /// stopped at the batch limit go on.
    private func writeOutput(context: ChannelHandlerContext) {
        guard !self.isFlushing, self.machine.lifecycle != .closed else { return }
        self.isFlushing = true
        defer { self.isFlushing = false }
        var rounds = 0
        while self.out.readableBytes > 0 {
            let bytes = self.out
            self.out = context.channel.allocator.buffer(capacity: 16384)
            self.writer.record(into: self.server.stats)
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: nil)
            rounds += 1
            guard rounds < 64, self.machine.lifecycle != .closed, context.channel.isWritable, !self.sending.isEmpty else { break }
            self.sendBodies(context: context)
        }
        self.closeIfDone(context: context)
    }

    // MARK: - Relaying from upstream

    private func startRelay(_ request: UpstreamRequest, on id: UInt32, mount: Mount, context: ChannelHandlerContext) {
        if case .link(_, let object) = request { object.counters.recordStart() }
        self.relayGeneration &+= 1
        let generation = self.relayGeneration
        self.exchanges[id]?.relay = Relay(request: request, generation: generation, mount: mount)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let subscription = self.server.responder.startRelay(request, on: context.eventLoop) { event in
            handler.value.upstreamEvent(event, on: id, generation: generation)
        }
        // An answer can come before `startRelay` returns and end the relay.
        if self.exchanges[id]?.relay?.generation == generation {
            self.exchanges[id]!.relay!.subscription = subscription
        } else {
            subscription.cancel()
        }
    }

    private func upstreamEvent(_ event: UpstreamEvent, on id: UInt32, generation: Int) {
        guard let context = self.context, let exchange = self.exchanges[id], var relay = exchange.relay, relay.generation == generation else { return }
        switch event {
        case .informational(let head):
            // Only before the final response's fields.
            guard relay.bodiless == nil, let interim = RelayHead(interim: head) else { return }
            self.writeHeaders(self.writer.writeInterim(interim), on: id, endStream: false)
        case .response(let head, let joined):
            switch self.server.responder.upstreamAnswered(head, to: relay.request, joined: joined, mount: relay.mount) {
            case .relay(let relayHead):
                let relayed = self.writer.writeRelayHead(relayHead, isHead: exchange.isHead)
                self.writeHeaders(relayed.block, on: id, endStream: relayed.bodiless)
                if relayed.bodiless {
                    self.responseEnded(id)
                } else {
                    relay.bodiless = false
                    self.exchanges[id]?.relay = relay
                }
            case .replace(let plan):
                self.replaceRelay(on: id, with: plan, context: context)
            }
        case .body(var bytes, _):
            guard relay.bodiless == false, bytes.readableBytes > 0 else { return }
            let count = bytes.readableBytes
            self.writer.countBody(count)
            if case .link(_, let object) = relay.request {
                object.counters.recordProgress(before: relay.sent, after: relay.sent + Int64(count), total: relay.sent + Int64(count))
            }
            relay.sent += Int64(count)
            self.exchanges[id]!.relay = relay
            if self.exchanges[id]!.pending == nil {
                self.exchanges[id]!.pending = bytes
            } else {
                self.exchanges[id]!.pending!.writeBuffer(&bytes)
            }
            self.sendBody(id, context: context)
            self.relayFellBehind(id, context: context)
        case .end:
            if case .link(_, let object) = relay.request { object.counters.recordCompletion() }
            relay.subscription?.cancel()
            self.exchanges[id]!.relay = nil
            if relay.bodiless == false {
                self.exchanges[id]!.endsAfterPending = true
                self.sendBody(id, context: context)
            } else {
                self.responseEnded(id)
            }
        case .failed(let status, let message):
            if relay.bodiless != nil {
                // The fields are out: the only way to signal the failure is to reset the stream.
                relay.subscription?.cancel()
                self.machine.sentReset(on: id)
                self.exchanges[id] = nil
                HTTP2Wire.writeRSTStream(id, .internalError, into: &self.out)
                break
            }
            self.server.logger.warning("origin fetch failed", metadata: ["origin.status": "\(status.code)", "error": "\(message)"])
            if let plan = self.server.responder.upstreamFailed(relay.request) {
                self.replaceRelay(on: id, with: plan, context: context)
                return
            }
            relay.subscription?.cancel()
            self.exchanges[id]!.relay = nil
            self.sendError(status, on: id, context: context)
        case .fetchSeparately:
            guard case .cache(var exchange) = relay.request else { return }
            exchange.fillKey = nil
            self.replaceRelay(on: id, with: .relay(.cache(exchange)), context: context)
        }
        self.flushIfNeeded(context: context)
    }

    /// Stream `id`'s client has relayed bytes waiting: past ``behindThreshold`` upstream is told;
    /// past the configured limit the stream is reset (`CANCEL`), as HTTP/1.1 cuts its connection.
    private func relayFellBehind(_ id: UInt32, context: ChannelHandlerContext) {
        guard let exchange = self.exchanges[id], var relay = exchange.relay, let waiting = exchange.pending?.readableBytes else { return }
        if waiting > self.server.configuration.maxRelayBacklog {
            self.server.logger.warning(
                "cutting a client that fell too far behind a relayed response",
                metadata: ["relay.backlog": "\(waiting)", "net.peer": "\(context.remoteAddress?.description ?? "?")"])
            self.server.stats.relayClientCut()
            self.resetStream(id, .cancel)
            return
        }
        guard !relay.isBehind, waiting >= Self.behindThreshold else { return }
        relay.isBehind = true
        self.exchanges[id]!.relay = relay
        relay.subscription?.viewerBacklogged(true)
    }

    private func replaceRelay(on id: UInt32, with plan: ResponsePlan, context: ChannelHandlerContext) {
        guard let relay = self.exchanges[id]?.relay else { return }
        relay.subscription?.cancel()
        self.exchanges[id]?.relay = nil
        self.perform(plan, on: id, mount: relay.mount, context: context)
    }

    // MARK: - Life of the connection

    /// The server resets stream `id` (a stream error the state machine found, or a relay that
    /// fell too far behind): `RST_STREAM`, and the stream's exchange, if any, is dropped.
    private func resetStream(_ id: UInt32, _ code: HTTP2Wire.ErrorCode) {
        HTTP2Wire.writeRSTStream(id, code, into: &self.out)
        self.machine.sentReset(on: id)
        self.streamClosed(id)
    }

    /// Stream `id` was reset, by the client or the server: its exchange is dropped.
    private func streamClosed(_ id: UInt32) {
        guard let exchange = self.exchanges.removeValue(forKey: id) else { return }
        exchange.relay?.subscription?.cancel()
        if let context { self.closeIfDone(context: context) }
    }

    /// A connection error: `GOAWAY` with its code, then the connection closes.
    private func fail(_ error: HTTP2FrameReader.ConnectionError, context: ChannelHandlerContext) {
        guard let lastStreamID = self.machine.connectionFailed() else { return }
        self.server.logger.debug("closing an http2 connection", metadata: ["h2.error": "\(error.code.rawValue)", "h2.reason": "\(error.reason)"])
        HTTP2Wire.writeGoAway(lastStream: lastStreamID, error.code, into: &self.out)
        let bytes = self.out
        self.out = ByteBuffer()
        for exchange in self.exchanges.values { exchange.relay?.subscription?.cancel() }
        self.exchanges.removeAll()
        self.sending.removeAll()
        self.writer.record(into: self.server.stats)
        context.writeAndFlush(self.wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// Shutting down: no new streams (GOAWAY); close once the open ones are answered.
    private func quiesce(context: ChannelHandlerContext) {
        guard let lastStreamID = self.machine.quiesce() else { return }
        HTTP2Wire.writeGoAway(lastStream: lastStreamID, .noError, into: &self.out)
        self.writeOutput(context: context)
    }

    /// Closes a quiescing connection once its streams are done and its frames written.
    private func closeIfDone(context: ChannelHandlerContext) {
        guard self.machine.closeIfDone(outputEmpty: self.out.readableBytes == 0) else { return }
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func scheduleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        self.timer = nil
        switch self.machine.timerFired(now: .now(), relaying: self.exchanges.values.contains { $0.relay != nil }) {
        case .none:
            break
        case .schedule(let deadline):
            self.scheduleTimer(at: deadline, context: context)
        case .close:
            self.fail(.init(code: .noError, reason: "idle for longer than the timeout"), context: context)
        }
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
