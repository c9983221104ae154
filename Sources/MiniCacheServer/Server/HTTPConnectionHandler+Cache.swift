#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import NIOCore
import NIOHTTP1

/// A request the cache forwards to its origin, and what the answer is for.
struct CacheExchange {
    enum Kind {
        /// Nothing usable is stored: fetch, relay and store.
        case miss
        /// A stored response is revalidated with a conditional request (RFC 9111 §4.3.1).
        case revalidation
        /// Another method: forwarded as is, never stored; an unsafe one invalidates (§4.4).
        case passThrough
    }

    let kind: Kind
    /// The client's request as received.
    let request: HTTPRequestHead
    /// The request sent to the origin.
    let forwarded: OriginRequest
    let key: CacheKey
    let origin: OriginAddress
    let lookup: PullThroughCache.Lookup
    /// The stored response of `lookup.object`, if any.
    let stored: StoredResponse?
    let requestTime: Int64
}

extension HTTPConnectionHandler {
    /// Answers a GET or HEAD the volume has no named object for, as a shared cache (RFC 9111 §4).
    func respondFromCache(_ cache: PullThroughCache, head: RequestHead, bytes: UnsafeRawBufferPointer, keepAlive: Bool, context: ChannelHandlerContext) {
        let isGet = head.method == .get
        var fastKey: [UInt8]?
        if head.isPlain, head.cacheControl == nil, !head.hasPragma {
            let key = Self.fastKey(head, bytes: bytes)
            if let (object, hit) = cache.fastHit(key, in: self.mount) {
                let age = hit.age(now: Int64(time(nil)))
                if age < hit.lifetime {
                    self.cacheBatch.hits += 1
                    self.writeWholeHit(object, hit.head, age: age, isGet: isGet, label: "HIT", keepAlive: keepAlive, minorVersion: head.minorVersion, context: context)
                    if self.server.configuration.accessLog { self.logAccess(head, bytes: bytes, status: .ok) }
                    return
                }
            }
            fastKey = key
        }
        let request = head.fullHead(in: bytes)
        guard let origin = cache.router.origin(host: request.headers.first(name: "host"), target: request.uri) else {
            self.writeError(.notFound, keepAlive: keepAlive, isHead: !isGet, context: context)
            self.logAccess(head, bytes: bytes, status: .notFound)
            return
        }
        let key = cache.key(target: request.uri, origin: origin)
        let lookup = cache.lookup(key, request: request, in: self.mount)
        let stored = lookup.object?.cached?.response
        let now = Int64(time(nil))
        let decision = cache.policy.decide(request: request, stored: stored, now: now)
        switch decision {
        case .fresh(let age), .staleAcceptedByRequest(let age):
            self.cacheBatch.hits += 1
            if let fastKey, lookup.varyIndex == nil, stored!.vary.isEmpty, case .fresh = decision {
                cache.rememberFastHit(
                    fastKey, object: lookup.object!, digest: lookup.digest, stored: stored!, in: self.mount,
                    serverName: self.server.configuration.serverName)
            }
            self.serveStored(
                lookup.object!, stored: stored!, age: age, request: request, label: "HIT", keepAlive: keepAlive, minorVersion: head.minorVersion,
                context: context)
            self.logAccess(head, bytes: bytes, status: .ok)
        case .staleWhileRevalidate(let age, _):
            self.server.stats.cacheStaleServed()
            self.revalidateInBackground(cache, request: request, key: key, origin: origin, lookup: lookup, stored: stored!, context: context)
            self.serveStored(
                lookup.object!, stored: stored!, age: age, request: request, label: "STALE", keepAlive: keepAlive, minorVersion: head.minorVersion,
                context: context)
            self.logAccess(head, bytes: bytes, status: .ok)
        case .revalidate:
            let kind: CacheExchange.Kind = stored!.hasValidator ? .revalidation : .miss
            self.startFetch(kind, cache, request: request, key: key, origin: origin, lookup: lookup, keepAlive: keepAlive, context: context)
            self.logAccess(head, bytes: bytes, status: .ok)
        case .miss:
            self.startFetch(.miss, cache, request: request, key: key, origin: origin, lookup: lookup, keepAlive: keepAlive, context: context)
            self.logAccess(head, bytes: bytes, status: .ok)
        case .gatewayTimeout:
            // RFC 9111 §5.2.1.7: only-if-cached and nothing usable is stored.
            self.writeError(.gatewayTimeout, keepAlive: keepAlive, isHead: !isGet, context: context)
            self.logAccess(head, bytes: bytes, status: .gatewayTimeout)
        }
    }

    /// The fast-hit key of a request: its `Host` value, NUL, its target.
    private static func fastKey(_ head: RequestHead, bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let host = head.host.map { Int($0.count) } ?? 0
        return [UInt8](unsafeUninitializedCapacity: host + 1 + Int(head.target.count)) { buffer, count in
            var n = 0
            if let range = head.host {
                for i in range.lowerBound..<range.upperBound {
                    buffer[n] = bytes[i]
                    n += 1
                }
            }
            buffer[n] = 0
            n += 1
            for i in head.target.lowerBound..<head.target.upperBound {
                buffer[n] = bytes[i]
                n += 1
            }
            count = n
        }
    }

    /// Forwards a request of another method to the origin with its body (RFC 9111 §4.4: an
    /// unsafe method's success invalidates what is stored for its URL).
    func passThrough(_ cache: PullThroughCache, head: RequestHead, bytes: UnsafeRawBufferPointer, keepAlive: Bool, context: ChannelHandlerContext) {
        let request = head.fullHead(in: bytes)
        // `OPTIONS *` (asterisk-form) is about the whole server: route it as `/`.
        guard request.method != .CONNECT,
            let origin = cache.router.origin(host: request.headers.first(name: "host"), target: request.uri == "*" ? "/" : request.uri)
        else {
            let status: HTTPStatus = request.method == .CONNECT ? .methodNotAllowed : .notFound
            self.writeError(status, keepAlive: keepAlive, context: context)
            self.logAccess(head, bytes: bytes, status: status)
            return
        }
        var body: ByteBuffer?
        if head.contentLength > 0 {
            body = context.channel.allocator.buffer(capacity: head.contentLength)
            body!.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[head.headLength..<(head.headLength + head.contentLength)]))
        }
        let forwarded = cache.originRequest(for: request, to: origin, body: body, forStoring: false)
        let exchange = CacheExchange(
            kind: .passThrough, request: request, forwarded: forwarded, key: cache.key(target: request.uri, origin: origin),
            origin: origin, lookup: PullThroughCache.Lookup(object: nil, digest: cache.key(target: request.uri, origin: origin).primaryDigest),
            stored: nil, requestTime: Int64(time(nil)))
        let fetcher = self.server.links
        self.server.stats.cacheMiss(coalesced: false)
        self.startRelay(exchange: exchange, isGet: request.method != .HEAD, keepAlive: keepAlive, minorVersion: head.minorVersion, context: context) { deliver in
            fetcher.execute(forwarded, to: origin, on: context.eventLoop, deliver: deliver)
        }
        self.logAccess(head, bytes: bytes, status: .ok)
    }

    /// Sends a miss or a revalidation to the origin through a shared fill (one origin request per
    /// key; revalidations are keyed apart so a 304 never reaches a client that needs a body).
    func startFetch(
        _ kind: CacheExchange.Kind,
        _ cache: PullThroughCache,
        request: HTTPRequestHead,
        key: CacheKey,
        origin: OriginAddress,
        lookup: PullThroughCache.Lookup,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        let stored = lookup.object?.cached?.response
        var forwarded = cache.originRequest(for: request, to: origin, forStoring: true)
        var fillKey = "cache \(lookup.digest)"
        if kind == .revalidation, let stored {
            forwarded.head = cache.policy.conditionalRequest(for: forwarded.head, stored: stored)
            fillKey = "revalidate \(lookup.digest)"
        }
        let exchange = CacheExchange(
            kind: kind, request: request, forwarded: forwarded, key: key, origin: origin, lookup: lookup, stored: stored,
            requestTime: Int64(time(nil)))
        let recorder = cache.recorder(key: key, request: forwarded.head, varyIndex: lookup.varyIndex, revalidating: kind == .revalidation ? stored.map { (lookup.digest, $0) } : nil)
        let fetcher = self.server.links
        let stats = self.server.stats
        let headers = forwarded.head.headers
        self.startRelay(exchange: exchange, isGet: request.method != .HEAD, keepAlive: keepAlive, minorVersion: UInt8(request.version.minor), context: context) { deliver in
            let deliver = Self.applyingRange(of: request, to: deliver)
            let subscription = fetcher.subscribe(
                key: fillKey, request: forwarded, origin: origin, on: context.eventLoop, recorder: recorder,
                passThrough: true, requestHeaders: headers, deliver: deliver)
            if kind == .revalidation {
                if subscription.isNew { stats.cacheRevalidationStarted() }
            } else {
                stats.cacheMiss(coalesced: !subscription.isNew)
            }
            return subscription
        }
    }

    /// `deliver`, cutting a relayed `200` to the single byte range `request` asks for (RFC 9110
    /// §14.2) as a stored response would be: the cache fetches whole responses, so a client that
    /// joins a fill still gets its `206`. Requests with conditionals keep the whole response.
    static func applyingRange(of request: HTTPRequestHead, to deliver: @escaping @Sendable (LinkEvent) -> Void) -> @Sendable (LinkEvent) -> Void {
        let ranges = request.headers["range"]
        guard request.method == .GET, ranges.count == 1, !Self.hasConditionals(request.headers) else { return deliver }
        let relay = RangeRelay(range: Array(ranges[0].utf8), ifRange: request.headers.first(name: "if-range"), deliver: deliver)
        return { event in relay.handle(event) }
    }

    /// `stale-while-revalidate` (RFC 5861 §3): one background revalidation per key at a time.
    private func revalidateInBackground(
        _ cache: PullThroughCache,
        request: HTTPRequestHead,
        key: CacheKey,
        origin: OriginAddress,
        lookup: PullThroughCache.Lookup,
        stored: StoredResponse,
        context: ChannelHandlerContext
    ) {
        guard cache.beginBackgroundRevalidation(lookup.digest) else { return }
        var forwarded = cache.originRequest(for: request, to: origin, forStoring: true)
        forwarded.head = cache.policy.conditionalRequest(for: forwarded.head, stored: stored)
        let digest = lookup.digest
        // The key stays taken until the outcome is in the volume, so no request in between starts another.
        let recorder = cache.recorder(
            key: key, request: forwarded.head, varyIndex: lookup.varyIndex, revalidating: (digest, stored),
            onRelease: { cache.endBackgroundRevalidation(digest) })
        self.server.stats.cacheRevalidationStarted()
        let box = BackgroundSubscription()
        box.subscription = self.server.links.subscribe(
            key: "revalidate \(lookup.digest)", request: forwarded, origin: origin, on: context.eventLoop,
            recorder: { fill in
                box.startedFill = true
                return recorder(fill)
            },
            passThrough: true, requestHeaders: forwarded.head.headers
        ) { event in
            switch event {
            case .end, .failed, .fetchSeparately:
                box.subscription?.cancel()
                box.subscription = nil
            case .head, .response, .body:
                break
            }
        }
        // Joined a revalidation already in flight: that one's outcome serves this key.
        if !box.startedFill { cache.endBackgroundRevalidation(digest) }
    }
}

/// Cuts a relayed `200` down to one byte range (used on one event loop, in delivery order).
private final class RangeRelay: @unchecked Sendable {
    private let range: [UInt8]
    private let ifRange: String?
    private let deliver: @Sendable (LinkEvent) -> Void
    private var window: Range<Int64>?
    private var offset: Int64 = 0

    init(range: [UInt8], ifRange: String?, deliver: @escaping @Sendable (LinkEvent) -> Void) {
        self.range = range
        self.ifRange = ifRange
        self.deliver = deliver
    }

    func handle(_ event: LinkEvent) {
        switch event {
        case .response(var head):
            let received = StoredResponse(requestHeaders: [:], response: head, requestTime: 0, responseTime: 0)
            guard head.status == .ok, let length = head.headers.first(name: "content-length").flatMap({ Int64($0) }),
                self.ifRange.map({ HTTPConnectionHandler.ifRangeHolds($0, stored: received) }) ?? true,
                case .ranges(let list) = ByteRanges.resolve(self.range, length: length), list.count == 1
            else {
                self.deliver(event)
                return
            }
            let r = list[0]
            head.status = .partialContent
            head.headers.replaceOrAdd(name: "Content-Range", value: "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(length)")
            head.headers.replaceOrAdd(name: "Content-Length", value: String(r.count))
            self.window = r
            self.deliver(.response(head))
        case .body(var part):
            guard let window = self.window else { return self.deliver(event) }
            let start = self.offset
            self.offset += Int64(part.readableBytes)
            let lower = max(window.lowerBound, start)
            let upper = min(window.upperBound, self.offset)
            guard lower < upper else { return }
            part.moveReaderIndex(forwardBy: Int(lower - start))
            if let slice = part.readSlice(length: Int(upper - lower)) { self.deliver(.body(slice)) }
        default:
            self.deliver(event)
        }
    }
}

/// Keeps a background revalidation's subscription until it ends (used on one event loop).
private final class BackgroundSubscription: @unchecked Sendable {
    var subscription: LinkSubscription?
    var startedFill = false
}
