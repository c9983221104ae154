#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One data-plane connection: the adapter between the channel and the parts that decide.
///
/// Requests are parsed straight from the bytes received (``HTTPRequestParser``), turned into
/// plans by the server's ``Responder`` and written in order (pipelining) by an
/// ``HTTP1ResponseWriter``, with one flush per read batch. The ``ConnectionStateMachine``
/// decides when to read, answer, time out and close; this class performs what it returns —
/// channel reads and writes, the one timer — and moves the bodies that do not fit a batch:
/// streamed from the volume, or relayed from upstream.
package final class HTTPConnectionHandler: ChannelDuplexHandler {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundIn = Never
    package typealias OutboundOut = IOData

    private let server: ServerContext
    // The properties every request reads and changes are not checked for exclusive access at run
    // time (each check costs about 100 instructions, and a request made eight of them): they are
    // changed only by mutating methods that call out to nothing, so no two accesses can overlap.
    @exclusivity(unchecked) private var state: ConnectionStateMachine
    @exclusivity(unchecked) private var writer: HTTP1ResponseWriter
    private var context: ChannelHandlerContext?
    /// The volume snapshot answered from, taken once per read batch and let go of once no
    /// response is relayed: an idle connection must not keep the chunks of objects evicted since
    /// (a stream from the volume holds its own).
    @exclusivity(unchecked) private var mount: Mount?
    /// Bytes received and not answered yet.
    @exclusivity(unchecked) private var input: ByteBuffer?
    /// Request body bytes still to skip.
    private var discard = 0
    /// The request whose body is awaited was checked for `Expect: 100-continue` (and answered).
    private var expectationChecked = false
    private var stream: BodyStream?
    private var relay: RelayedResponse?
    /// Tells the events of a relay from those of one it replaced.
    private var relayGeneration = 0
    /// Relayed bytes written since the last flush, and whether a flush is queued on the loop.
    private var relayUnflushed = 0
    private var relayFlushQueued = false
    /// Relayed body bytes to send from a shared fetch's memory file, not yet handed to the
    /// channel: consecutive parts are merged, so a joiner's replay goes out in one `sendfile`.
    /// They go before anything the writer holds (written after them).
    private var pendingFile: (span: FileSpan, handle: NIOFileHandle)?
    private var timer: Scheduled<Void>?
    /// Buffers of `--large-objects read`, reused.
    private var bufferPool: [ByteBuffer] = []
    /// How bodies not in memory are sent (TLS cannot send a `FileRegion`).
    private let largeObjects: LargeObjectStrategy
    private var isActive = false

    /// - Parameter largeObjects: how large bodies are sent; the server's setting when nil.
    package init(server: ServerContext, dates: DateCache, largeObjects: LargeObjectStrategy? = nil) {
        self.server = server
        self.largeObjects = largeObjects ?? server.configuration.largeObjectStrategy
        self.state = ConnectionStateMachine(
            headerTimeout: server.configuration.headerTimeout,
            idleTimeout: server.configuration.idleTimeout
        )
        self.writer = HTTP1ResponseWriter(dates: dates, serverName: server.configuration.serverName)
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Added after a TLS handshake: the connection is active already.
        if context.channel.isActive { self.activate(context: context) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
    }

    package func channelActive(context: ChannelHandlerContext) {
        self.activate(context: context)
        context.fireChannelActive()
    }

    private func activate(context: ChannelHandlerContext) {
        guard !self.isActive else { return }
        self.isActive = true
        self.server.stats.connectionOpened()
        self.schedule(self.state.channelActive(now: .now()), context: context)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        self.server.stats.connectionClosed()
        self.writer.record(into: self.server.stats)
        self.timer?.cancel()
        self.timer = nil
        if self.state.channelInactive() { self.relay?.subscription?.cancel() }
        self.relay = nil
        self.pendingFile = nil
        self.stream = nil
        self.mount = nil
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        let action = self.state.bytesReceived()
        guard action != .drop else { return }
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
        if action == .answer {
            self.mount = self.server.volumes.current
            self.answer(context: context)
        }
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        self.flush(self.state.channelReadComplete(), context: context)
        context.fireChannelReadComplete()
    }

    package func read(context: ChannelHandlerContext) {
        if self.state.readRequested() { context.read() }
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            if self.stream != nil {
                self.pump(context: context)
            } else if self.relay?.backlog.isEmpty == false {
                self.drainRelay(context: context)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is QuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if let action = self.state.quiesce(hasBufferedInput: (self.input?.readableBytes ?? 0) > 0) {
            self.flush(action, context: context)
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.server.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Requests

    /// The snapshot of this read batch (or of the response in progress), taken when there is none.
    private var answeringMount: Mount {
        if let mount = self.mount { return mount }
        let current = self.server.volumes.current
        self.mount = current
        return current
    }

    /// Answers the complete requests buffered, in order, until one streams or is relayed.
    private func answer(context: ChannelHandlerContext) {
        guard self.state.startAnswering() else { return }
        requests: while self.state.mayAnswer, let buffer = self.input, buffer.readableBytes > 0 {
            switch self.server.parser.parse(buffer) {
            case .incomplete:
                self.schedule(self.state.requestIncomplete(now: .now()), context: context)
                break requests
            case .failure(let error):
                if case .badRequest(let reason) = error {
                    self.server.logger.debug("refused malformed request", metadata: ["http.reason": "\(reason)"])
                }
                self.refuse(error.status)
                break requests
            case .request(let head):
                switch self.server.responder.body(of: head) {
                case .refuse(let status):
                    self.refuse(status)
                    break requests
                case .whole where buffer.readableBytes < head.headLength + head.contentLength:
                    if !self.expectationChecked {
                        self.expectationChecked = true
                        // RFC 9110 §10.1.1: a client that expects 100-continue waits for it before
                        // it sends the content this request is waiting for.
                        if head.minorVersion == 1, buffer.withUnsafeReadableBytes({ Self.expectsContinue(head, in: $0) }) {
                            self.writer.writeContinue()
                            self.flush(.flush, context: context)
                        }
                    }
                    self.schedule(self.state.requestIncomplete(now: .now()), context: context)
                    break requests
                case .whole, .skip:
                    break
                }
                self.expectationChecked = false
                // Consumed first: a response can complete synchronously and go on with the loop.
                self.input!.moveReaderIndex(forwardBy: head.headLength)
                if head.contentLength > 0 {
                    let available = min(head.contentLength, self.input!.readableBytes)
                    self.input!.moveReaderIndex(forwardBy: available)
                    self.discard = head.contentLength - available
                }
                buffer.withUnsafeReadableBytes { bytes in
                    self.respond(to: head, in: bytes, context: context)
                }
            }
        }
        if let buffer = self.input, buffer.readableBytes == 0 { self.input = nil }
        if self.relay == nil { self.mount = nil }
        self.schedule(self.state.stopAnswering(inputEmpty: self.input == nil, now: .now()), context: context)
    }

    private func respond(to head: RequestHead, in bytes: UnsafeRawBufferPointer, context: ChannelHandlerContext) {
        let framing = HTTP1ResponseWriter.Framing(
            isHead: head.method == .head,
            minorVersion: head.minorVersion,
            keepAlive: self.state.keepsAlive(head.keepAlive && !head.hasTransferEncoding)
        )
        let mount = self.answeringMount
        let plan = self.server.responder.respond(to: head, in: bytes, mount: mount, on: context.eventLoop)
        self.perform(plan, framing, mount: mount, context: context)
        if self.server.configuration.accessLog { self.logAccess(head, in: bytes, status: plan.status, context: context) }
    }

    /// Writes `plan` from `mount`; true when the response is complete (not streamed or relayed).
    @discardableResult
    private func perform(_ plan: ResponsePlan, _ framing: HTTP1ResponseWriter.Framing, mount: Mount, context: ChannelHandlerContext) -> Bool {
        switch self.writer.write(plan, framing, mount: mount) {
        case .complete(let keepAlive):
            self.state.responseWritten(keepAlive: keepAlive)
            return true
        case .stream(let stream, let keepAlive):
            self.state.responseWritten(keepAlive: keepAlive)
            self.startStream(stream, context: context)
        case .relay(let request):
            self.startRelay(request, framing, context: context)
        }
        return false
    }

    /// Answers a request that cannot be served with `status`, and closes after it.
    private func refuse(_ status: HTTPStatus) {
        self.writer.writeError(status, keepAlive: false)
        self.state.responseWritten(keepAlive: false)
        self.input = nil
    }

    /// Whether the request `head` (parsed from `bytes`) has `Expect: 100-continue`.
    private static func expectsContinue(_ head: RequestHead, in bytes: UnsafeRawBufferPointer) -> Bool {
        head.fullHead(in: bytes).headers["expect"].contains { line in
            HTTPListParser.elements(line).contains { $0.lowercased() == "100-continue" }
        }
    }

    /// A streamed or relayed response is over: go on with the requests behind it.
    private func responseHandedOver(context: ChannelHandlerContext) {
        guard self.state.responseHandedOver() == .answerNext else {
            if self.relay == nil { self.mount = nil }
            return
        }
        self.mount = self.server.volumes.current
        self.answer(context: context)
        let (flush, read) = self.state.resumed()
        if flush { self.flush(self.state.flush(), context: context) }
        if read { context.read() }
    }

    /// Hands the output to the channel: adds the batch's counts, writes, flushes, and closes
    /// after the last byte for `.flushAndClose`.
    private func flush(_ action: ConnectionStateMachine.FlushAction, context: ChannelHandlerContext) {
        self.relayUnflushed = 0
        // Counted before the bytes leave, so a client that saw its response sees it counted.
        self.writer.record(into: self.server.stats)
        switch action {
        case .flush:
            guard var output = self.writer.takeOutput() else {
                guard self.pendingFile != nil else { return }
                self.writePendingFile(context: context)
                context.flush()
                return
            }
            self.write(output, context: context)
            context.flush()
            self.writer.recycle(&output)
        case .flushAndClose:
            if let output = self.writer.takeOutput() { self.write(output, context: context) } else { self.writePendingFile(context: context) }
            context.writeAndFlush(self.wrapOutboundOut(.byteBuffer(ByteBuffer()))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    /// Writes an output of the writer to the channel, without flushing.
    private func write(_ output: HTTP1ResponseWriter.Output, context: ChannelHandlerContext) {
        self.writePendingFile(context: context)
        for part in output.queued { context.write(self.wrapOutboundOut(.byteBuffer(part)), promise: nil) }
        if output.last.readableBytes > 0 { context.write(self.wrapOutboundOut(.byteBuffer(output.last)), promise: nil) }
    }

    // MARK: - Streaming from the volume

    private func startStream(_ stream: BodyStream, context: ChannelHandlerContext) {
        stream.counters.recordStart()
        self.writePendingFile(context: context)
        if var output = self.writer.takeOutput() {
            self.write(output, context: context)
            self.writer.recycle(&output)
        }
        self.stream = stream
        self.schedule(self.state.streamStarted(now: .now()), context: context)
        self.pump(context: context)
    }

    /// Hands body parts to the channel while it is writable.
    ///
    /// The stream is changed in place, never through a copy: a write can fail before
    /// `context.write` returns (the channel closed, TLS shut down), and ``partWritten`` then ends
    /// the stream, which must stop this loop and stay ended.
    private func pump(context: ChannelHandlerContext) {
        let chunkSize = Int64(self.server.configuration.streamChunkSize)
        var wrote = false
        while context.channel.isWritable, let piece = self.stream?.next(chunkSize: chunkSize) {
            let data: IOData
            let count: Int64
            switch piece {
            case .buffer(let buffer):
                data = .byteBuffer(buffer)
                count = Int64(buffer.readableBytes)
            case .file(let offset, let length):
                count = length
                switch self.stream!.copies ? .read : self.largeObjects {
                case .sendfile:
                    guard let handle = self.stream?.fileHandle() else {
                        self.server.logger.error("cannot duplicate the volume's descriptor", metadata: ["errno": "\(errno)"])
                        self.streamFailed(context: context)
                        return
                    }
                    data = .fileRegion(FileRegion(fileHandle: handle, readerIndex: Int(offset), endIndex: Int(offset + length)))
                case .read:
                    guard let mount = self.stream?.mount, let buffer = self.readChunk(mount, at: offset, count: Int(length), context: context) else {
                        self.streamFailed(context: context)
                        return
                    }
                    data = .byteBuffer(buffer)
                }
            }
            wrote = true
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { result in
                self.partWritten(count: count, data: data, result: result, context: context)
            }
            context.write(self.wrapOutboundOut(data), promise: promise)
        }
        if wrote { context.flush() }
    }

    /// A body cannot go on: the response is cut, so the connection closes.
    private func streamFailed(context: ChannelHandlerContext) {
        self.stream = nil
        self.state.closeNow()
        context.close(promise: nil)
    }

    private func partWritten(count: Int64, data: IOData, result: Result<Void, any Error>, context: ChannelHandlerContext) {
        guard var stream = self.stream else { return }
        guard case .success = result else {
            self.streamFailed(context: context)
            return
        }
        if case .byteBuffer(var buffer) = data, buffer.capacity >= self.server.configuration.streamChunkSize, self.bufferPool.count < 4 {
            buffer.clear()
            self.bufferPool.append(buffer)
        }
        self.state.streamProgressed(now: .now())
        if stream.written(count) {
            self.stream = nil
            self.responseHandedOver(context: context)
        } else {
            self.stream = stream
        }
    }

    /// Reads a chunk of the volume into a pooled buffer.
    private func readChunk(_ mount: Mount, at position: Int64, count: Int, context: ChannelHandlerContext) -> ByteBuffer? {
        var buffer = self.bufferPool.popLast() ?? context.channel.allocator.buffer(capacity: max(count, self.server.configuration.streamChunkSize))
        guard mount.read(into: &buffer, at: position, count: count) else {
            self.server.logger.error("cannot read the volume", metadata: ["errno": "\(errno)"])
            return nil
        }
        return buffer
    }

    // MARK: - Relaying from upstream

    private func startRelay(_ request: UpstreamRequest, _ framing: HTTP1ResponseWriter.Framing, context: ChannelHandlerContext) {
        if case .link(_, let object) = request { object.counters.recordStart() }
        self.state.relayStarted()
        self.relayGeneration &+= 1
        let generation = self.relayGeneration
        self.relay = RelayedResponse(request: request, framing: framing, generation: generation)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let subscription = self.server.responder.startRelay(request, on: context.eventLoop) { event in
            handler.value.upstreamEvent(event, generation: generation)
        }
        // An answer can come before `startRelay` returns and end the relay.
        if self.relay?.generation == generation {
            self.relay!.subscription = subscription
        } else {
            subscription.cancel()
        }
    }

    private func upstreamEvent(_ event: UpstreamEvent, generation: Int) {
        guard let context = self.context, let relay = self.relay, relay.generation == generation else { return }
        switch event {
        case .informational(let head):
            // Only before the final response, and never to an HTTP/1.0 client (RFC 9110 §15.2).
            guard relay.body == nil, relay.framing.minorVersion >= 1, let interim = RelayHead(interim: head) else { return }
            self.writer.writeInterim(interim)
            self.flush(.flush, context: context)
        case .response(let head, let joined):
            switch self.server.responder.upstreamAnswered(head, to: relay.request, joined: joined, mount: self.answeringMount) {
            case .relay(let relayHead):
                let framing = self.writer.writeRelayHead(relayHead, relay.framing)
                self.state.responseWritten(keepAlive: framing.keepAlive)
                relay.body = framing
                if framing.bodiless {
                    self.endRelay(context: context)
                } else {
                    self.flushRelaySoon(context: context)
                }
            case .replace(let plan):
                self.replaceRelay(with: plan, context: context)
            }
        case .body(let bytes, let file):
            guard let body = relay.body, !body.bodiless, bytes.readableBytes > 0 else { return }
            if !relay.backlog.isEmpty || !context.channel.isWritable {
                // The client is slower than upstream: keep the part (shared, not copied) for later.
                relay.backlog.append(bytes)
                relay.backlogBytes += bytes.readableBytes
                self.relayFellBehind(context: context)
                return
            }
            if let file, !body.chunked, self.largeObjects == .sendfile, let handle = file.file.handle(on: context.eventLoop) {
                self.queueFile(file, handle: handle, context: context)
                self.writer.count(nil, bytes: bytes.readableBytes)
            } else {
                self.writer.writeRelayBody(bytes, chunked: body.chunked)
            }
            relay.recordProgress(bytes.readableBytes)
            self.relayUnflushed += bytes.readableBytes
            self.flushRelaySoon(context: context)
        case .end:
            if !relay.backlog.isEmpty {
                relay.ended = true
                return
            }
            if let body = relay.body, !body.bodiless { self.writer.writeRelayEnd(chunked: body.chunked) }
            relay.recordCompletion()
            self.endRelay(context: context)
        case .failed(let status, let message):
            if relay.body != nil {
                // The head is out: the only way to signal the failure is to cut the response.
                self.state.responseWritten(keepAlive: false)
                self.endRelay(context: context)
                return
            }
            self.server.logger.warning("origin fetch failed", metadata: ["origin.status": "\(status.code)", "error": "\(message)"])
            if let plan = self.server.responder.upstreamFailed(relay.request) {
                self.replaceRelay(with: plan, context: context)
                return
            }
            self.writer.writeError(status, keepAlive: relay.framing.keepAlive, minorVersion: relay.framing.minorVersion, isHead: relay.framing.isHead)
            self.state.responseWritten(keepAlive: relay.framing.keepAlive)
            self.endRelay(context: context)
        case .fetchSeparately:
            // The shared fetch is not for this client: its request goes on its own.
            guard case .cache(var exchange) = relay.request else { return }
            exchange.fillKey = nil
            self.replaceRelay(with: .relay(.cache(exchange)), context: context)
        }
    }

    /// Adds a relayed body part to send from the fetch's memory file: merged with the pending
    /// one when it follows it, else after it (and after what the writer holds).
    private func queueFile(_ span: FileSpan, handle: NIOFileHandle, context: ChannelHandlerContext) {
        if self.writer.hasOutput, var output = self.writer.takeOutput() {
            self.write(output, context: context)
            self.writer.recycle(&output)
        }
        if let pending = self.pendingFile, let joined = pending.span.joined(with: span) {
            self.pendingFile = (joined, pending.handle)
            return
        }
        self.writePendingFile(context: context)
        self.pendingFile = (span, handle)
    }

    /// Hands the pending part of a memory file to the channel (not flushed). The write keeps the
    /// file open until it completed.
    private func writePendingFile(context: ChannelHandlerContext) {
        guard let (span, handle) = self.pendingFile else { return }
        self.pendingFile = nil
        let region = FileRegion(fileHandle: handle, readerIndex: span.offset, endIndex: span.offset + span.length)
        let promise = context.eventLoop.makePromise(of: Void.self)
        let file = span.file
        promise.futureResult.whenComplete { _ in withExtendedLifetime(file) {} }
        context.write(self.wrapOutboundOut(.fileRegion(region)), promise: promise)
    }

    /// Parts of a relayed body the client is behind on.
    private static let behindThreshold = 256 << 10

    /// Relayed bytes written and not yet flushed past which the flush is not deferred.
    private static let relayFlushLimit = 256 << 10

    /// Flushes a relayed head or body part once the tasks queued on the loop ran, so parts that
    /// arrive together (a joiner's replay of what a fetch received so far, several reads of one
    /// origin in one loop pass) go out in one `writev` instead of one write each; at once when
    /// ``relayFlushLimit`` bytes wait, so the channel's writability keeps telling a slow client.
    private func flushRelaySoon(context: ChannelHandlerContext) {
        guard self.relayUnflushed < Self.relayFlushLimit else {
            self.flush(.flush, context: context)
            return
        }
        guard !self.relayFlushQueued else { return }
        self.relayFlushQueued = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = handler.value
            handler.relayFlushQueued = false
            guard let context = handler.context else { return }
            handler.flush(.flush, context: context)
        }
    }

    /// The client has `backlog` bytes of the relayed body waiting: past ``behindThreshold``
    /// upstream is told (a fetch stops reading its origin while none of its viewers keeps up) and
    /// the stall deadline runs; past the configured limit the client is cut.
    private func relayFellBehind(context: ChannelHandlerContext) {
        guard let relay = self.relay else { return }
        if relay.backlogBytes > self.server.configuration.maxRelayBacklog {
            self.server.logger.warning(
                "cutting a client that fell too far behind a relayed response",
                metadata: ["relay.backlog": "\(relay.backlogBytes)", "net.peer": "\(context.remoteAddress?.description ?? "?")"])
            self.server.stats.relayClientCut()
            relay.subscription?.cancel()
            self.relay = nil
            self.state.closeNow()
            context.close(promise: nil)
            return
        }
        guard !relay.isBehind, relay.backlogBytes >= Self.behindThreshold else { return }
        relay.isBehind = true
        relay.subscription?.viewerBacklogged(true)
        self.schedule(self.state.relayFellBehind(now: .now()), context: context)
    }

    /// Hands the parts of a relayed body the client is behind on to the channel while it is
    /// writable; ends the response once they are out and upstream finished it.
    private func drainRelay(context: ChannelHandlerContext) {
        guard let relay = self.relay, let body = relay.body else { return }
        var wrote = false
        while context.channel.isWritable, let part = relay.backlog.popFirst() {
            relay.backlogBytes -= part.readableBytes
            self.writer.writeRelayBody(part, chunked: body.chunked)
            relay.recordProgress(part.readableBytes)
            if var output = self.writer.takeOutput() {
                self.write(output, context: context)
                self.writer.recycle(&output)
            }
            wrote = true
        }
        // Settled before the flush: a flush that empties the channel's buffer reports writability
        // at once, which comes back here while parts are left (and ends the response if it can).
        let caughtUp = relay.isBehind && relay.backlog.isEmpty
        if caughtUp { relay.isBehind = false }
        if wrote { self.state.relayProgressed(now: .now()) }
        if caughtUp {
            self.state.relayCaughtUp()
            relay.subscription?.viewerBacklogged(false)
        }
        if wrote {
            self.writer.record(into: self.server.stats)
            context.flush()
        }
        // The flush can also have closed the connection.
        guard relay.backlog.isEmpty, relay.ended, self.relay?.generation == relay.generation else { return }
        if !body.bodiless { self.writer.writeRelayEnd(chunked: body.chunked) }
        relay.recordCompletion()
        self.endRelay(context: context)
    }

    /// Stops relaying and answers with `plan` instead.
    private func replaceRelay(with plan: ResponsePlan, context: ChannelHandlerContext) {
        guard let relay = self.relay else { return }
        relay.subscription?.cancel()
        self.relay = nil
        if self.perform(plan, relay.framing, mount: self.answeringMount, context: context) {
            self.responseHandedOver(context: context)
            self.flush(self.state.flush(), context: context)
        }
    }

    private func endRelay(context: ChannelHandlerContext) {
        self.relay?.subscription?.cancel()
        self.relay = nil
        self.responseHandedOver(context: context)
        self.flush(self.state.flush(), context: context)
    }

    // MARK: - Timer

    private func schedule(_ action: ConnectionStateMachine.TimerAction, context: ChannelHandlerContext) {
        guard case .schedule(let deadline) = action else { return }
        self.timer?.cancel()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        self.timer = nil
        switch self.state.timerFired(now: .now(), hasBufferedInput: (self.input?.readableBytes ?? 0) > 0) {
        case .none:
            break
        case .schedule(let deadline):
            self.schedule(.schedule(deadline), context: context)
        case .closeNow:
            self.server.logger.debug("closing a connection whose client stopped reading")
            self.stream = nil
            self.relay?.subscription?.cancel()
            self.relay = nil
            context.close(promise: nil)
        case .requestTimeout:
            self.refuse(.requestTimeout)
            self.flush(self.state.flush(), context: context)
        case .close:
            self.flush(self.state.flush(), context: context)
        }
    }

    private func logAccess(_ head: RequestHead, in bytes: UnsafeRawBufferPointer, status: HTTPStatus, context: ChannelHandlerContext) {
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.target.lowerBound..<head.target.upperBound]), as: UTF8.self)
        self.server.logger.info(
            "request",
            metadata: [
                "http.method": "\(head.method == .get ? "GET" : head.method == .head ? "HEAD" : "other")",
                "http.target": "\(target)", "http.status": "\(status.code)", "net.peer": "\(context.remoteAddress?.description ?? "?")",
            ]
        )
    }
}

@available(*, unavailable)
extension HTTPConnectionHandler: Sendable {}
