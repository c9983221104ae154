import NIOHTTP1

/// What the cache makes of its origin's answer to an exchange.
package enum OriginAnswer {
    /// Relay the origin's response with this head.
    case relay(RelayHead)
    /// Stop relaying and answer with this plan instead: the stored response (after a `304`, or
    /// stale after an error), a `412`, or a new exchange.
    case replace(ResponsePlan)
}

extension CacheResponder {
    /// The origin answered `head` to `exchange`: a `304` to a revalidation serves the stored body
    /// with the updated fields (RFC 9111 §4.3.4), an error may serve stale (RFC 5861 §4), an
    /// unsafe method's success invalidates (§4.4), and anything else is relayed with its
    /// end-to-end fields (RFC 9110 §7.6.1), the client's own preconditions answered here.
    /// - Parameter joined: the times of the shared fetch the exchange joined, when it did not
    ///   start it: the response was not generated for this request, so it carries the cache's
    ///   `Age` (RFC 9111 §5.1) and `X-Cache: COALESCED`.
    package func originAnswered(_ head: HTTPResponseHead, to exchange: CacheExchange, joined: FillTimes? = nil, mount: Mount, now: Int64) -> OriginAnswer {
        if exchange.kind == .revalidation, head.status == .notModified, let stored = exchange.stored, let object = exchange.lookup.object {
            guard let updated = self.cache.rules.updating(stored, with: head, requestTime: exchange.requestTime, responseTime: now) else {
                // §4.3.4: the 304 is for another representation: fetch it whole.
                let lookup = PullThroughCache.Lookup(object: nil, digest: exchange.lookup.digest, varyIndex: exchange.lookup.varyIndex)
                let miss = self.exchange(.miss, request: exchange.request, key: exchange.key, origin: exchange.origin, lookup: lookup, now: now)
                return .replace(.relay(.cache(miss)))
            }
            return .replace(
                self.serve(object, stored: updated, prepared: false, age: updated.currentAge(now: now), request: exchange.request, label: .revalidated))
        }
        if CacheRules.isErrorStatus(head.status), exchange.kind != .passThrough, let stale = self.stale(exchange, originAnswered: true, now: now) {
            return .replace(stale)
        }
        if exchange.kind == .passThrough {
            let keys = self.cache.rules.invalidatedKeys(request: exchange.request, key: exchange.key, response: head)
            if !keys.isEmpty {
                let digests = self.cache.invalidationDigests(keys, in: mount)
                self.cache.invalidate(digests)
                for digest in digests { self.upstream.fills.close("cache \(digest)") }
            }
        }
        var status = HTTPStatus(head.status)
        var fields: HTTPHeaders
        if let joined, exchange.kind != .passThrough {
            let make = { self.relayedFields(head, joined: joined, now: now) }
            fields = joined.joinerFields?.fields(now: now, make: make) ?? make()
        } else {
            fields = self.relayedFields(head, joined: nil, now: now)
        }
        if status == .ok, exchange.kind != .passThrough, CacheRules.hasConditionals(exchange.request.headers) {
            // The cache asked for the whole response; the client's own conditionals are answered here.
            let received = StoredResponse(requestHeaders: [:], response: head, requestTime: 0, responseTime: 0)
            switch self.cache.rules.clientConditions(request: exchange.request, stored: received) {
            case .notModified:
                status = .notModified
                fields = HTTPHeaders(fields.filter { HitHead.notModifiedFields.contains($0.name.lowercased()) })
            case .preconditionFailed:
                return .replace(.error(.preconditionFailed))
            case .proceed:
                break
            }
        }
        return .relay(
            RelayHead(
                status: status, fields: fields, contentLength: head.headers.first(name: "content-length").flatMap { Int($0) },
                label: exchange.kind == .passThrough ? .pass : joined == nil ? .miss : .coalesced))
    }

    /// The end-to-end fields of the origin's `head` as relayed: without `Content-Length` (the
    /// writer frames the body) and the targeted fields this cache obeys (RFC 9213: they are for
    /// it, not for caches downstream); with the cache's `Age` for a request that joined a fetch.
    private func relayedFields(_ head: HTTPResponseHead, joined: FillTimes?, now: Int64) -> HTTPHeaders {
        var fields = PullThroughCache.endToEnd(head.headers)
        fields.remove(name: "content-length")
        if let joined {
            let received = StoredResponse(requestHeaders: [:], response: head, requestTime: joined.requestTime, responseTime: joined.responseTime)
            fields.replaceOrAdd(name: "Age", value: String(received.currentAge(now: now)))
        }
        for target in self.cache.rules.configuration.targetedFields { fields.remove(name: target.name) }
        return fields
    }

    /// The origin could not be reached or gave no answer to `exchange`: the stored response when
    /// it may be served stale (RFC 9111 §4.2.4, RFC 5861 §4), else nil (the error is sent).
    package func originFailed(_ exchange: CacheExchange, now: Int64) -> ResponsePlan? {
        if exchange.kind == .passThrough { self.stats.originFailed() }
        return self.stale(exchange, originAnswered: false, now: now)
    }

    /// The stored response of `exchange` instead of an origin failure, when that may be served.
    /// - Parameter originAnswered: the failure is an error status; otherwise the cache is
    ///   disconnected from the origin.
    private func stale(_ exchange: CacheExchange, originAnswered: Bool, now: Int64) -> ResponsePlan? {
        guard let stored = exchange.stored, let object = exchange.lookup.object,
            self.cache.rules.mayServeStaleOnError(request: exchange.request, stored: stored, now: now, disconnected: !originAnswered)
        else { return nil }
        self.stats.cacheStaleServed()
        return self.serve(object, stored: stored, age: stored.currentAge(now: now), request: exchange.request, label: .stale)
    }
}
