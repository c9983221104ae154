import HTTPToolkit
import NIOCore
import NIOHTTP1

/// Partial content (RFC 9111 §3.3, §3.4; RFC 9110 §14): a range miss asks the origin for the
/// range only and stores the `206`; a stored `206` answers the ranges inside it and is completed
/// from the origin (`Range: bytes=N-` with `If-Range`) when it holds the start of the
/// representation and has a strong validator.
extension CacheResponder {
    /// Prefixes read into memory to be completed; a longer one is fetched whole instead.
    static let completionPrefixLimit: Int64 = 8 << 20

    /// The plan for a request when a `206` is stored under its key: a range inside the stored one
    /// is served from it; anything else completes it from the origin, or fetches anew.
    func respondFromPartial(
        _ request: HTTPRequestHead,
        key: CacheKey,
        origin: OriginAddress,
        lookup: PullThroughCache.Lookup,
        object: PreparedObject,
        stored: StoredResponse,
        mount: Mount,
        now: Int64
    ) -> ResponsePlan {
        let missing = PullThroughCache.Lookup(object: nil, digest: lookup.digest, varyIndex: lookup.varyIndex)
        guard let extent = stored.partialContent else {
            return .relay(.cache(self.exchange(.miss, request: request, key: key, origin: origin, lookup: missing, now: now)))
        }
        switch self.cache.rules.decide(request: request, stored: stored, now: now) {
        case .fresh(let age), .staleAcceptedByRequest(let age):
            if let range = Self.range(of: request, inside: extent, length: object.length, stored: stored) {
                let hit = self.cache.hitHead(object, stored: stored, serverName: self.serverName)
                return .representation(Representation(object, .stored(hit, age: age, label: .hit)), .range(range))
            }
        case .gatewayTimeout:
            return .error(.gatewayTimeout)
        case .staleWhileRevalidate, .revalidate, .miss:
            break
        }
        // §5.2.1.7: what is stored does not answer it.
        if CacheRules.requestCacheControl(request.headers).onlyIfCached { return .error(.gatewayTimeout) }
        if let completion = self.completion(of: object, stored: stored, extent: extent, request: request, key: key, origin: origin, lookup: missing, mount: mount, now: now) {
            return .relay(.cache(completion))
        }
        if extent.completeLength > Int64(self.cache.maxObjectSize),
            let exchange = self.rangeExchange(request, key: key, origin: origin, lookup: missing, now: now)
        {
            // The whole response would not be stored: ask for the range again.
            return .relay(.cache(exchange))
        }
        return .relay(.cache(self.exchange(.miss, request: request, key: key, origin: origin, lookup: missing, now: now)))
    }

    /// A miss of a GET with one `Range` for part of the response and no preconditions, when no
    /// fetch of the whole response is in flight: the range alone is asked for, and the origin's
    /// `206` stored (its `200`, when it ignores the range, is stored and cut as any miss's).
    ///
    /// A range from the first byte to the end (`bytes=0-`, which ffmpeg and browsers' media
    /// elements send for every segment and video) asks for the whole response: it is the plain
    /// miss, whose fill the plain requests for the key join too, so a segment asked for with and
    /// without it at once is fetched from the origin once.
    func rangeExchange(_ request: HTTPRequestHead, key: CacheKey, origin: OriginAddress, lookup: PullThroughCache.Lookup, now: Int64) -> CacheExchange? {
        let ranges = request.headers["range"]
        guard self.cache.rules.configuration.storesPartialContent, request.method == .GET, ranges.count == 1,
            !Self.asksForWhole(ranges[0]),
            !CacheRules.hasConditionals(request.headers), !request.headers.contains(name: "if-range"),
            !self.upstream.fills.contains("cache \(lookup.digest)")
        else { return nil }
        var forwarded = self.cache.originRequest(for: request, to: origin, forStoring: true)
        forwarded.head.headers.replaceOrAdd(name: "Range", value: ranges[0])
        return CacheExchange(
            kind: .miss, request: request, forwarded: forwarded, key: key, origin: origin, lookup: lookup, stored: nil, requestTime: now,
            fillKey: "range \(lookup.digest) \(ranges[0])")
    }

    /// Whether a `Range` value asks for every byte of any representation (`bytes=0-`): it
    /// resolves to all of the longest one.
    static func asksForWhole(_ range: String) -> Bool {
        ByteRanges.resolve(Array(range.utf8), length: .max) == .ranges([0..<Int64.max])
    }

    /// The request for the rest of a stored prefix (RFC 9111 §3.4), with `If-Range` so that a
    /// changed representation comes whole instead (RFC 9110 §13.1.5); nil when the stored part
    /// is not the start, has no strong validator, or would not be stored whole.
    private func completion(
        of object: PreparedObject,
        stored: StoredResponse,
        extent: (start: Int64, completeLength: Int64),
        request: HTTPRequestHead,
        key: CacheKey,
        origin: OriginAddress,
        lookup: PullThroughCache.Lookup,
        mount: Mount,
        now: Int64
    ) -> CacheExchange? {
        guard request.method == .GET, extent.start == 0, object.length > 0, object.length < extent.completeLength,
            extent.completeLength <= Int64(self.cache.maxObjectSize), object.length <= Self.completionPrefixLimit,
            let validator = stored.strongValidator, let body = Self.body(of: object, in: mount)
        else { return nil }
        var forwarded = self.cache.originRequest(for: request, to: origin, forStoring: true)
        forwarded.head.headers.replaceOrAdd(name: "Range", value: "bytes=\(object.length)-")
        forwarded.head.headers.replaceOrAdd(name: "If-Range", value: validator)
        return CacheExchange(
            kind: .miss, request: request, forwarded: forwarded, key: key, origin: origin, lookup: lookup, stored: nil, requestTime: now,
            fillKey: "complete \(lookup.digest)", prefix: StoredPrefix(stored: stored, body: body))
    }

    /// The one range `request` asks for when it lies inside the stored bytes `extent.start..<extent.start + length`.
    static func range(
        of request: HTTPRequestHead,
        inside extent: (start: Int64, completeLength: Int64),
        length: Int64,
        stored: StoredResponse
    ) -> Range<Int64>? {
        let ranges = request.headers["range"]
        guard request.method == .GET, ranges.count == 1, !CacheRules.hasConditionals(request.headers),
            request.headers.first(name: "if-range").map({ CacheRules.ifRangeHolds($0, stored: stored) }) ?? true,
            case .ranges(let list) = ByteRanges.resolve(Array(ranges[0].utf8), length: extent.completeLength), list.count == 1,
            list[0].lowerBound >= extent.start, list[0].upperBound <= extent.start + length
        else { return nil }
        return list[0]
    }

    /// The body of a stored object, from memory or read from the volume.
    private static func body(of object: PreparedObject, in mount: Mount) -> ByteBuffer? {
        if let body = object.body { return body }
        var buffer = ByteBufferAllocator().buffer(capacity: Int(object.length))
        return mount.read(into: &buffer, at: object.fileOffset, count: Int(object.length)) ? buffer : nil
    }
}
