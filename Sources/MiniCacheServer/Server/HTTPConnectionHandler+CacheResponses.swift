#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import NIOCore
import NIOHTTP1
import SHFS
import Synchronization

extension HTTPConnectionHandler {
    /// Serves a stored response (RFC 9111 §4): its status and fields with `Age`, after the client's
    /// conditionals (§4.3.2) and with its `Range` applied.
    /// - Parameters:
    ///   - stored: the stored response, or its update after a `304` (then `prepared` is false).
    func serveStored(
        _ object: PreparedObject,
        stored: StoredResponse,
        prepared: Bool = true,
        age: Int64,
        request: HTTPRequestHead,
        label: StaticString,
        keepAlive: Bool,
        minorVersion: UInt8,
        context: ChannelHandlerContext
    ) {
        let cache = self.server.cache!
        let hit =
            prepared
            ? cache.hitHead(object, stored: stored, serverName: self.server.configuration.serverName)
            : HitHead(stored, bodyLength: object.length, serverName: self.server.configuration.serverName)
        let isGet = request.method != .HEAD
        if (200..<300).contains(hit.status), Self.hasConditionals(request.headers) {
            switch cache.policy.clientConditions(request: request, stored: stored) {
            case .notModified:
                self.writeHitStatus(hit, line: nil, keepAlive: keepAlive, minorVersion: minorVersion)
                self.out.writeString("Age: \(age)\r\n")
                self.out.writeImmutableBuffer(hit.notModified)
                object.counters.hits.add(1, ordering: .relaxed)
                self.finishResponse(status: .notModified, bytes: 0, keepAlive: keepAlive)
                return
            case .preconditionFailed:
                self.writeError(.preconditionFailed, keepAlive: keepAlive, isHead: !isGet, context: context)
                return
            case .proceed:
                break
            }
        }
        var ranges = ByteRanges.whole
        let rangeLines = request.headers["range"]
        if hit.status == 200, isGet, rangeLines.count == 1,
            request.headers.first(name: "if-range").map({ Self.ifRangeHolds($0, stored: stored) }) ?? true
        {
            ranges = ByteRanges.resolve(Array(rangeLines[0].utf8), length: object.length)
        }
        let contentType = stored.headers.first(name: "content-type")
        switch ranges {
        case .whole:
            self.writeWholeHit(object, hit, age: age, isGet: isGet, label: label, keepAlive: keepAlive, minorVersion: minorVersion, context: context)
        case .unsatisfiable:
            self.writeError(
                .rangeNotSatisfiable, keepAlive: keepAlive, extraFields: hit.rangeFields + "Age: \(age)\r\nContent-Range: bytes */\(object.length)\r\n",
                context: context)
        case .ranges(let list) where list.count == 1:
            let r = list[0]
            self.writeHitStatus(hit, line: nil, keepAlive: keepAlive, minorVersion: minorVersion, status: .partialContent)
            self.out.writeString(
                "Age: \(age)\r\nX-Cache: \(label)\r\n" + hit.rangeFields + (contentType.map { "Content-Type: \($0)\r\n" } ?? "")
                    + "Content-Range: bytes \(r.lowerBound)-\(r.upperBound - 1)/\(object.length)\r\nContent-Length: \(r.count)\r\n\r\n")
            self.cacheBatch.bytes += r.count
            self.sendBody(object, pieces: [self.piece(object, r)], keepAlive: keepAlive, code: 206, context: context)
        case .ranges(let list):
            let boundary = "minicache-\(object.entry.hexDigest.prefix(16))"
            let (pieces, length) = self.multipartBody(object, list, contentType: contentType, boundary: boundary)
            self.writeHitStatus(hit, line: nil, keepAlive: keepAlive, minorVersion: minorVersion, status: .partialContent)
            self.out.writeString(
                "Age: \(age)\r\nX-Cache: \(label)\r\n" + hit.rangeFields + "Content-Type: multipart/byteranges; boundary=\(boundary)\r\n"
                    + "Content-Length: \(length)\r\n\r\n")
            self.cacheBatch.bytes += Int(length)
            self.sendBody(object, pieces: pieces, keepAlive: keepAlive, code: 206, context: context)
        }
    }

    /// The whole stored response: status line, fields with `Age`, body.
    func writeWholeHit(
        _ object: PreparedObject,
        _ hit: HitHead,
        age: Int64,
        isGet: Bool,
        label: StaticString,
        keepAlive: Bool,
        minorVersion: UInt8,
        context: ChannelHandlerContext
    ) {
        self.writeHitStatus(hit, line: hit.statusLine, keepAlive: keepAlive, minorVersion: minorVersion)
        self.out.writeStaticString("Age: ")
        self.out.writeString(String(age))
        self.out.writeStaticString("\r\nX-Cache: ")
        self.out.writeStaticString(label)
        self.out.writeStaticString("\r\n")
        self.emit(hit.fields, context: context)
        let withBody = isGet && HitHead.hasContent(hit.status)
        if withBody { self.cacheBatch.bytes += Int(object.length) }
        self.sendBody(object, pieces: withBody ? [self.piece(object, 0..<object.length)] : [], keepAlive: keepAlive, code: hit.status, context: context)
    }

    /// The status line (the stored one, or `status`), `Date` unless stored, the connection field.
    private func writeHitStatus(_ hit: HitHead, line: ByteBuffer?, keepAlive: Bool, minorVersion: UInt8, status: HTTPStatus = .notModified) {
        if let line {
            self.out.writeImmutableBuffer(line)
        } else {
            self.out.writeString(status.statusLine)
        }
        if !hit.hasDate { self.out.writeImmutableBuffer(self.dates.dateLine) }
        self.writeConnectionField(keepAlive: keepAlive, minorVersion: minorVersion)
    }

    static func hasConditionals(_ headers: HTTPHeaders) -> Bool {
        headers.contains(name: "if-none-match") || headers.contains(name: "if-match") || headers.contains(name: "if-modified-since")
            || headers.contains(name: "if-unmodified-since")
    }

    /// RFC 9110 §13.1.5: a strong entity-tag match, or a date equal to `Last-Modified`.
    static func ifRangeHolds(_ value: String, stored: StoredResponse) -> Bool {
        let bytes = Array(Substring(value).trimmingOWS().utf8)
        let isTag = bytes.first == 34 || bytes.starts(with: [87, 47])
        let tag = stored.entityTag.flatMap { Preconditions.parseEntityTag($0) }
        if isTag, tag == nil || tag!.weak { return false }
        return Preconditions.ifRangeHolds(bytes, etag: tag?.opaque ?? [], lastModified: stored.times.lastModified ?? Int64.min)
    }

    /// Serves the stored response instead of an origin failure when RFC 5861 §4 / RFC 9111
    /// §4.2.4 allow it; false when they do not.
    /// - Parameter originAnswered: the failure is an error status; otherwise the origin could
    ///   not be reached or gave no answer (the cache is disconnected).
    func serveStaleOnError(_ exchange: CacheExchange, _ response: LinkResponse, originAnswered: Bool = false, context: ChannelHandlerContext) -> Bool {
        guard let cache = self.server.cache, let stored = exchange.stored, let object = exchange.lookup.object else { return false }
        let now = Int64(time(nil))
        guard cache.policy.mayServeStaleOnError(request: exchange.request, stored: stored, now: now, disconnected: !originAnswered) else { return false }
        response.subscription.cancel()
        self.busy = .idle
        self.server.stats.cacheStaleServed()
        self.serveStored(
            object, stored: stored, age: stored.currentAge(now: now), request: exchange.request, label: "STALE",
            keepAlive: response.keepAlive, minorVersion: response.minorVersion, context: context)
        self.completeAfterServe(context: context)
        return true
    }

    /// After a stored response replaced a relay: go on with the next request unless a body streams.
    private func completeAfterServe(context: ChannelHandlerContext) {
        if case .idle = self.busy {
            self.finishBusy(context: context)
            self.flushBatch(context: context)
        }
    }

    /// An origin response head for a cache exchange: a `304` to a revalidation serves the stored
    /// body with the updated fields (§4.3.4), an error may serve stale, anything else is relayed.
    func cacheResponse(_ head: HTTPResponseHead, _ response: LinkResponse, context: ChannelHandlerContext) {
        guard let exchange = response.exchange, let cache = self.server.cache else { return }
        let now = Int64(time(nil))
        if exchange.kind == .revalidation, let stored = exchange.stored, let object = exchange.lookup.object {
            if head.status == .notModified {
                response.subscription.cancel()
                self.busy = .idle
                guard let updated = cache.policy.updating(stored, with: head, requestTime: exchange.requestTime, responseTime: now) else {
                    // §4.3.4: the 304 is for another representation: fetch it whole.
                    let lookup = PullThroughCache.Lookup(object: nil, digest: exchange.lookup.digest, varyIndex: exchange.lookup.varyIndex)
                    self.startFetch(
                        .miss, cache, request: exchange.request, key: exchange.key, origin: exchange.origin, lookup: lookup,
                        keepAlive: response.keepAlive, context: context)
                    return
                }
                self.serveStored(
                    object, stored: updated, prepared: false, age: updated.currentAge(now: now), request: exchange.request,
                    label: "REVALIDATED", keepAlive: response.keepAlive, minorVersion: response.minorVersion, context: context)
                self.completeAfterServe(context: context)
                return
            }
        }
        if CachePolicy.isErrorStatus(head.status), exchange.kind != .passThrough,
            self.serveStaleOnError(exchange, response, originAnswered: true, context: context)
        {
            return
        }
        if exchange.kind == .passThrough {
            let keys = cache.policy.invalidatedKeys(request: exchange.request, key: exchange.key, response: head)
            if !keys.isEmpty {
                let digests = cache.invalidationDigests(keys, in: self.mount)
                cache.invalidate(digests)
                for digest in digests { self.server.links.fills.close("cache \(digest)") }
            }
        }
        self.relayHead(head, response, label: exchange.kind == .passThrough ? "PASS" : "MISS", context: context)
    }

    /// Writes the origin's status and end-to-end fields (RFC 9110 §7.6.1) with `Via`, framing the
    /// body for the client.
    private func relayHead(_ head: HTTPResponseHead, _ response: LinkResponse, label: String, context: ChannelHandlerContext) {
        var response = response
        var status = Int(head.status.code)
        var fields = PullThroughCache.endToEnd(head.headers)
        fields.remove(name: "content-length")
        let contentLength = head.headers.first(name: "content-length").flatMap { Int($0) }
        if status == 200, let exchange = response.exchange, exchange.kind != .passThrough, Self.hasConditionals(exchange.request.headers) {
            // The cache asked for the whole response; the client's own conditionals are answered here.
            let received = StoredResponse(requestHeaders: [:], response: head, requestTime: 0, responseTime: 0)
            switch self.server.cache!.policy.clientConditions(request: exchange.request, stored: received) {
            case .notModified:
                status = 304
                fields = HTTPHeaders(fields.filter { HitHead.notModifiedFields.contains($0.name.lowercased()) })
            case .preconditionFailed:
                response.subscription.cancel()
                self.busy = .idle
                self.writeError(.preconditionFailed, keepAlive: response.keepAlive, isHead: !response.isGet, context: context)
                self.completeAfterServe(context: context)
                return
            case .proceed:
                break
            }
        }
        let bodiless = !response.isGet || !HitHead.hasContent(status)
        if !bodiless, contentLength == nil {
            if response.minorVersion == 1 { response.chunked = true } else { response.keepAlive = false }
        }
        if !response.keepAlive { self.closing = true }
        self.out.writeString("HTTP/1.1 \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)\r\n")
        if !head.headers.contains(name: "date") { self.out.writeImmutableBuffer(self.dates.dateLine) }
        self.writeConnectionField(keepAlive: response.keepAlive, minorVersion: response.minorVersion)
        var text = ""
        for (name, value) in fields { text += "\(name): \(value)\r\n" }
        if !fields.contains(name: "server") { text += "Server: \(self.server.configuration.serverName)\r\n" }
        text += "Via: 1.1 minicache\r\nX-Cache: \(label)\r\n"
        if HitHead.hasContent(status) {
            if let contentLength {
                text += "Content-Length: \(contentLength)\r\n"
            } else if response.chunked {
                text += "Transfer-Encoding: chunked\r\n"
            }
        }
        self.out.writeString(text + "\r\n")
        response.headSent = true
        response.bodiless = bodiless
        self.finishResponse(code: status, bytes: 0, keepAlive: response.keepAlive)
        if bodiless {
            self.endLink(response, context: context)
            return
        }
        self.busy = .link(response)
        self.flushLinkOutput(context: context)
    }

    /// The shared fetch is not for this client (another variant, or a personal response): send
    /// its request on its own.
    func fetchSeparately(_ response: LinkResponse, context: ChannelHandlerContext) {
        guard let exchange = response.exchange else { return }
        response.subscription.cancel()
        self.busy = .idle
        let fetcher = self.server.links
        self.startRelay(
            exchange: exchange, isGet: response.isGet, keepAlive: response.keepAlive, minorVersion: response.minorVersion, context: context
        ) { deliver in
            fetcher.execute(exchange.forwarded, to: exchange.origin, on: context.eventLoop, deliver: Self.applyingRange(of: exchange.request, to: deliver))
        }
    }
}
