#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import Synchronization
import SHFS

/// A viewer's response to a raw/auto link or a cache miss being relayed.
struct LinkResponse {
    let subscription: LinkSubscription
    /// `Server` and, for a link entry, its validator lines.
    let commonFields: String
    let counters: ObjectCounters?
    /// The cache's request, when this relays a miss, revalidation or pass-through.
    let exchange: CacheExchange?
    let isGet: Bool
    var keepAlive: Bool
    let minorVersion: UInt8
    var headSent = false
    var chunked = false
    /// The relayed response has no body (HEAD, 204, 304): body events are ignored.
    var bodiless = false
    var sent: Int64 = 0
}

extension HTTPConnectionHandler {
    func startLink(_ link: Link, object: PreparedObject, isGet: Bool, keepAlive: Bool, minorVersion: UInt8, context: ChannelHandlerContext) {
        object.counters.recordStart()
        self.startRelay(commonFields: object.commonFields, counters: object.counters, isGet: isGet, keepAlive: keepAlive, minorVersion: minorVersion, context: context) {
            deliver in self.server.links.subscribe(link, on: context.eventLoop, deliver: deliver)
        }
    }

    /// Starts relaying a cache exchange with the origin.
    func startRelay(
        exchange: CacheExchange,
        isGet: Bool,
        keepAlive: Bool,
        minorVersion: UInt8,
        context: ChannelHandlerContext,
        subscribe: (@escaping @Sendable (LinkEvent) -> Void) -> LinkSubscription
    ) {
        self.startRelay(
            commonFields: "", counters: nil, isGet: isGet, keepAlive: keepAlive, minorVersion: minorVersion, context: context,
            exchange: exchange, subscribe: subscribe)
    }

    /// Starts relaying a shared fetch; `subscribe` joins or starts it with the handler's callback.
    func startRelay(
        commonFields: String,
        counters: ObjectCounters?,
        isGet: Bool,
        keepAlive: Bool,
        minorVersion: UInt8,
        context: ChannelHandlerContext,
        exchange: CacheExchange? = nil,
        subscribe: (@escaping @Sendable (LinkEvent) -> Void) -> LinkSubscription
    ) {
        if self.out.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.byteBuffer(self.out)), promise: nil)
            self.out = context.channel.allocator.buffer(capacity: 16384)
            self.needsFlush = true
        }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let subscription = subscribe { event in
            handler.value.linkEvent(event)
        }
        self.busy = .link(
            LinkResponse(
                subscription: subscription, commonFields: commonFields, counters: counters, exchange: exchange, isGet: isGet,
                keepAlive: keepAlive, minorVersion: minorVersion))
        self.deadlineKind = .none
    }

    func linkEvent(_ event: LinkEvent) {
        guard let context = self.context, !self.closed, case .link(var response) = self.busy else { return }
        switch event {
        case .response(let head):
            self.cacheResponse(head, response, context: context)
        case .fetchSeparately:
            self.fetchSeparately(response, context: context)
        case .head(let contentType, let contentLength, let contentEncoding):
            if contentLength == nil, response.minorVersion == 1 {
                response.chunked = true
            } else if contentLength == nil {
                response.keepAlive = false
            }
            if !response.keepAlive { self.closing = true }
            self.writeStatus(.ok, keepAlive: response.keepAlive, minorVersion: response.minorVersion)
            var fields = response.commonFields + "Content-Type: \(contentType ?? "application/octet-stream")\r\n"
            if let contentEncoding { fields += "Content-Encoding: \(contentEncoding)\r\n" }
            if let contentLength {
                fields += "Content-Length: \(contentLength)\r\n"
            } else if response.chunked {
                fields += "Transfer-Encoding: chunked\r\n"
            }
            self.out.writeString(fields + "\r\n")
            response.headSent = true
            self.finishResponse(status: .ok, bytes: 0, keepAlive: response.keepAlive)
            if !response.isGet {
                self.endLink(response, context: context)
                return
            }
            self.busy = .link(response)
            self.flushLinkOutput(context: context)
        case .body(let bytes):
            guard bytes.readableBytes > 0, !response.bodiless else { return }
            if response.chunked {
                self.out.writeString(String(bytes.readableBytes, radix: 16) + "\r\n")
                self.emit(bytes, context: context)
                self.out.writeStaticString("\r\n")
            } else {
                self.emit(bytes, context: context)
            }
            let before = response.sent
            response.sent += Int64(bytes.readableBytes)
            response.counters?.recordProgress(before: before, after: response.sent, total: response.sent)
            self.batchBytes += bytes.readableBytes
            self.busy = .link(response)
            self.flushLinkOutput(context: context)
        case .end:
            if response.chunked, !response.bodiless { self.out.writeStaticString("0\r\n\r\n") }
            response.counters?.recordCompletion()
            self.endLink(response, context: context)
        case .failed(let status, let message):
            if response.headSent {
                // The head is out: the only way to signal the failure is to cut the response.
                self.closing = true
                self.endLink(response, context: context)
                return
            }
            self.server.logger.warning("origin fetch failed", metadata: ["origin.status": "\(status.code)", "error": "\(message)"])
            if let exchange = response.exchange {
                if exchange.kind == .passThrough { self.server.stats.originFailed() }
                if self.serveStaleOnError(exchange, response, context: context) { return }
            }
            self.writeError(status, keepAlive: response.keepAlive, isHead: !response.isGet, context: context)
            self.endLink(response, context: context)
        }
    }

    func flushLinkOutput(context: ChannelHandlerContext) {
        if self.out.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.byteBuffer(self.out)), promise: nil)
            self.out = context.channel.allocator.buffer(capacity: 16384)
        }
        context.flush()
    }

    func endLink(_ response: LinkResponse, context: ChannelHandlerContext) {
        response.subscription.cancel()
        self.finishBusy(context: context)
        self.flushBatch(context: context)
    }
}
