import HTTPToolkit
import NIOCore
import NIOHTTP1

/// Answers, as a shared HTTP cache (RFC 9111), the requests the volume has no named object for:
/// a fresh stored response is served, anything else is sent to the origin (one fetch per key) —
/// and decides what the origin's answers become (``originAnswered(_:to:mount:now:)``). The
/// RFC's decisions live here and in ``CacheRules``; what they allow is stored by
/// ``PullThroughCache``. Plans only: the connection writes them.
package struct CacheResponder: Sendable {
    package let cache: PullThroughCache
    package let upstream: UpstreamRelay
    package let stats: ServerStats
    /// The `Server` field of stored responses that have none.
    package let serverName: String

    package init(cache: PullThroughCache, upstream: UpstreamRelay, stats: ServerStats, serverName: String) {
        self.cache = cache
        self.upstream = upstream
        self.stats = stats
        self.serverName = serverName
    }

    /// The plan for a GET or HEAD (RFC 9111 §4).
    /// - Parameters:
    ///   - bytes: the buffered bytes `head` was parsed from (the head at offset 0).
    ///   - now: the time in seconds since the epoch.
    ///   - eventLoop: where a background revalidation (`stale-while-revalidate`) reports.
    package func respond(to head: RequestHead, in bytes: UnsafeRawBufferPointer, mount: Mount, now: Int64, on eventLoop: any EventLoop) -> ResponsePlan {
        var fastKey: FastHitKey?
        if head.isPlain, head.cacheControl == nil, !head.hasPragma {
            let host = head.host.map { UnsafeRawBufferPointer(rebasing: bytes[$0.lowerBound..<$0.upperBound]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let key = FastHitKey(borrowing: host, target: UnsafeRawBufferPointer(rebasing: bytes[head.target.lowerBound..<head.target.upperBound]))
            if let (object, hit) = self.cache.fastHit(key, in: mount) {
                let age = hit.age(now: now)
                if age < hit.lifetime {
                    return .representation(Representation(object, .stored(hit.head, age: age, label: .hit)), .whole)
                }
            }
            fastKey = key
        }
        let request = head.fullHead(in: bytes)
        guard let origin = self.cache.router.origin(host: request.headers.first(name: "host"), target: request.uri) else {
            return .error(.notFound)
        }
        let key = self.cache.key(target: request.uri, origin: origin)
        let lookup = self.cache.lookup(key, request: request, in: mount)
        let stored = lookup.object?.cached?.response
        if let object = lookup.object, let stored, stored.status == 206 {
            return self.respondFromPartial(request, key: key, origin: origin, lookup: lookup, object: object, stored: stored, mount: mount, now: now)
        }
        let decision = self.cache.rules.decide(request: request, stored: stored, now: now)
        switch decision {
        case .fresh(let age), .staleAcceptedByRequest(let age):
            if let fastKey, lookup.varyIndex == nil, stored!.vary.isEmpty, case .fresh = decision {
                self.cache.rememberFastHit(fastKey, object: lookup.object!, digest: lookup.digest, stored: stored!, in: mount, serverName: self.serverName)
            }
            return self.serve(lookup.object!, stored: stored!, age: age, request: request, label: .hit)
        case .staleWhileRevalidate(let age, _):
            self.stats.cacheStaleServed()
            self.revalidateInBackground(request, key: key, origin: origin, lookup: lookup, stored: stored!, on: eventLoop)
            return self.serve(lookup.object!, stored: stored!, age: age, request: request, label: .stale)
        case .revalidate:
            let kind: CacheExchange.Kind = stored!.hasValidator ? .revalidation : .miss
            return .relay(.cache(self.exchange(kind, request: request, key: key, origin: origin, lookup: lookup, now: now)))
        case .miss:
            if let exchange = self.rangeExchange(request, key: key, origin: origin, lookup: lookup, now: now) {
                return .relay(.cache(exchange))
            }
            return .relay(.cache(self.exchange(.miss, request: request, key: key, origin: origin, lookup: lookup, now: now)))
        case .gatewayTimeout:
            // §5.2.1.7: only-if-cached and nothing usable is stored.
            return .error(.gatewayTimeout)
        }
    }

    /// The plan for a request of another method: forwarded to the origin with its body, never
    /// stored (RFC 9111 §4.4: an unsafe method's success invalidates what is stored for its URL).
    /// - Parameter bytes: the head at offset 0, then its whole body.
    package func forward(_ head: RequestHead, in bytes: UnsafeRawBufferPointer, now: Int64) -> ResponsePlan {
        let request = head.fullHead(in: bytes)
        // `OPTIONS *` (asterisk-form) is about the whole server: route it as `/`.
        guard request.method != .CONNECT,
            let origin = self.cache.router.origin(host: request.headers.first(name: "host"), target: request.uri == "*" ? "/" : request.uri)
        else {
            return .error(request.method == .CONNECT ? .methodNotAllowed : .notFound)
        }
        let body = head.contentLength > 0
            ? ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[head.headLength..<(head.headLength + head.contentLength)])) : nil
        let key = self.cache.key(target: request.uri, origin: origin)
        let exchange = CacheExchange(
            kind: .passThrough, request: request, forwarded: self.cache.originRequest(for: request, to: origin, body: body, forStoring: false),
            key: key, origin: origin, lookup: PullThroughCache.Lookup(object: nil, digest: key.primaryDigest), stored: nil,
            requestTime: now, fillKey: nil)
        return .relay(.cache(exchange))
    }

    /// A stored response (RFC 9111 §4) after the client's preconditions (§4.3.2), with its range.
    /// - Parameter prepared: false for a response just updated by a `304`, whose head is built
    ///   for this answer instead of taken from the prepared ones.
    func serve(_ object: PreparedObject, stored: StoredResponse, prepared: Bool = true, age: Int64, request: HTTPRequestHead, label: CacheLabel) -> ResponsePlan {
        let hit =
            prepared
            ? self.cache.hitHead(object, stored: stored, serverName: self.serverName)
            : HitHead(stored, bodyLength: object.length, serverName: self.serverName, withheld: self.cache.withheldFields)
        var outcome = Preconditions.Outcome.proceed
        if (200..<300).contains(hit.status.code), CacheRules.hasConditionals(request.headers) {
            switch self.cache.rules.clientConditions(request: request, stored: stored) {
            case .proceed: outcome = .proceed
            case .notModified: outcome = .notModified
            case .preconditionFailed: outcome = .preconditionFailed
            }
        }
        let selection = Representation.Selection(outcome) {
            let ranges = request.headers["range"]
            guard hit.status == .ok, request.method != .HEAD, ranges.count == 1,
                request.headers.first(name: "if-range").map({ CacheRules.ifRangeHolds($0, stored: stored) }) ?? true
            else { return .whole }
            return ByteRanges.resolve(Array(ranges[0].utf8), length: object.length)
        }
        return .representation(Representation(object, .stored(hit, age: age, label: label)), selection)
    }

    /// A miss or revalidation of `lookup` for `request`, through the shared fill of its key.
    func exchange(
        _ kind: CacheExchange.Kind,
        request: HTTPRequestHead,
        key: CacheKey,
        origin: OriginAddress,
        lookup: PullThroughCache.Lookup,
        now: Int64
    ) -> CacheExchange {
        let stored = lookup.object?.cached?.response
        var forwarded = self.cache.originRequest(for: request, to: origin, forStoring: true)
        var fillKey = "cache \(lookup.digest)"
        if kind == .revalidation, let stored {
            forwarded.head = self.cache.rules.conditionalRequest(for: forwarded.head, stored: stored)
            fillKey = "revalidate \(lookup.digest)"
        }
        return CacheExchange(
            kind: kind, request: request, forwarded: forwarded, key: key, origin: origin, lookup: lookup, stored: stored,
            requestTime: now, fillKey: fillKey)
    }

    /// Sends `exchange` to the origin: through its shared fill (which the cache's recorder stores
    /// from), or on its own; `deliver` gets the events, cut to the request's range.
    package func start(_ exchange: CacheExchange, on eventLoop: any EventLoop, deliver: @escaping @Sendable (UpstreamEvent) -> Void) -> UpstreamSubscription {
        var deliver = RangeRelay.applying(rangeOf: exchange.request, to: deliver)
        if let prefix = exchange.prefix { deliver = PartialCompletion.applying(prefix, to: deliver) }
        guard let fillKey = exchange.fillKey else {
            if exchange.kind == .passThrough { self.stats.cacheMiss(coalesced: false) }
            return self.upstream.execute(exchange.forwarded, to: exchange.origin, on: eventLoop, deliver: deliver)
        }
        let lookup = exchange.lookup
        let recorder =
            exchange.prefix.map { self.cache.completionRecorder(key: exchange.key, request: exchange.forwarded.head, varyIndex: lookup.varyIndex, prefix: $0) }
            ?? self.cache.recorder(
                key: exchange.key, request: exchange.forwarded.head, varyIndex: lookup.varyIndex,
                revalidating: exchange.kind == .revalidation ? exchange.stored.map { (lookup.digest, $0) } : nil)
        let subscription = self.upstream.subscribe(
            key: fillKey, request: exchange.forwarded, origin: exchange.origin, on: eventLoop, recorder: recorder,
            passThrough: true, requestHeaders: exchange.forwarded.head.headers, deliver: deliver)
        if exchange.kind == .revalidation {
            if subscription.isNew { self.stats.cacheRevalidationStarted() }
        } else {
            self.stats.cacheMiss(coalesced: !subscription.isNew)
        }
        return subscription
    }

    /// `stale-while-revalidate` (RFC 5861 §3): one background revalidation per key at a time.
    private func revalidateInBackground(
        _ request: HTTPRequestHead,
        key: CacheKey,
        origin: OriginAddress,
        lookup: PullThroughCache.Lookup,
        stored: StoredResponse,
        on eventLoop: any EventLoop
    ) {
        let cache = self.cache
        let digest = lookup.digest
        guard cache.beginBackgroundRevalidation(digest) else { return }
        var forwarded = cache.originRequest(for: request, to: origin, forStoring: true)
        forwarded.head = cache.rules.conditionalRequest(for: forwarded.head, stored: stored)
        // The key stays taken until the outcome is in the volume, so no request in between starts another.
        let recorder = cache.recorder(
            key: key, request: forwarded.head, varyIndex: lookup.varyIndex, revalidating: (digest, stored),
            onRelease: { cache.endBackgroundRevalidation(digest) })
        self.stats.cacheRevalidationStarted()
        let box = BackgroundSubscription()
        box.subscription = self.upstream.subscribe(
            key: "revalidate \(digest)", request: forwarded, origin: origin, on: eventLoop,
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
            case .informational, .response, .body:
                break
            }
        }
        // Joined a revalidation already in flight: that one's outcome serves this key.
        if !box.startedFill { cache.endBackgroundRevalidation(digest) }
    }
}

/// Keeps a background revalidation's subscription until it ends (used on one event loop).
private final class BackgroundSubscription: @unchecked Sendable {
    var subscription: UpstreamSubscription?
    var startedFill = false
}
