#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SHFS
import Synchronization

/// Makes the server a pull-through cache: a GET or HEAD the volume cannot answer is fetched from
/// the origin (one fetch per cache key, later requests join it), streamed to its viewers, and a
/// complete, storable response is written to the volume as a hidden object whose digest is the
/// SHA-256 of the cache key; the next request for the key is a hit on the prepared-object path.
///
/// The volume is written on a dedicated thread (never on an event loop), under the SHFS writer
/// lock, and the entry write is the commit: a fill that fails or is cut short stores nothing.
package final class PullThroughCache: Sendable {
    /// Where misses are fetched from.
    package let origin: OriginAddress
    /// The largest body stored; larger ones stream through.
    package let maxObjectSize: Int
    private let policy: CachePolicy
    private let volumes: VolumeHolder
    /// Where fetched responses are kept.
    package let store: CacheStore
    private let logger: Logger
    private let counters = Mutex(Counters())

    /// What the cache has done since it started.
    package struct Counters: Sendable, Equatable {
        package var stored = 0
        package var notStored = 0
    }

    package init(origin: OriginAddress, maxObjectSize: Int, volumes: VolumeHolder, logger: Logger) {
        self.origin = origin
        self.maxObjectSize = maxObjectSize
        self.policy = CachePolicy()
        self.volumes = volumes
        self.store = CacheStore(volumes: volumes, logger: logger)
        self.logger = logger
    }

    package var statistics: Counters { self.counters.withLock { $0 } }

    /// The cache key of a request target and the lower-case hex digest the object is stored under.
    package func key(target: String) -> (key: CacheKey, hexDigest: String) {
        let key = CacheKey(method: .GET, scheme: "http", authority: self.origin.hostField, target: target)
        return (key, String(key.primaryDigest.description.prefix(self.volumes.current.digestHexLength)))
    }

    /// The cache key of a request target and its hex digest as bytes (the mount's index key), for
    /// the hit path.
    package func key(target: String, hexLength: Int) -> (key: CacheKey, hexDigest: [UInt8]) {
        let key = CacheKey(method: .GET, scheme: "http", authority: self.origin.hostField, target: target)
        let digits: StaticString = "0123456789abcdef"
        let bytes = key.primaryDigest.bytes
        let hexLength = min(hexLength, bytes.count * 2)
        let hex = [UInt8](unsafeUninitializedCapacity: hexLength) { buffer, count in
            digits.withUTF8Buffer { table in
                for i in 0..<hexLength {
                    let byte = bytes[i / 2]
                    buffer[i] = table[Int(i % 2 == 0 ? byte >> 4 : byte & 0x0F)]
                }
            }
            count = hexLength
        }
        return (key, hex)
    }

    /// The `Age` of a stored response when it is fresh now (RFC 9111 §4.2); nil when stale.
    package func freshAge(_ cached: CachedMetadata, now: Int64) -> Int64? {
        let age = cached.response.currentAge(now: now)
        return age < cached.response.freshnessLifetime(self.policy.configuration) ? age : nil
    }

    /// What to do with a request that carries `Cache-Control` directives (RFC 9111 §5.2.1).
    package enum ClientDecision: Sendable, Equatable {
        case serve(age: Int64)
        case fetch
        case gatewayTimeout
    }

    /// Applies the request's `Cache-Control` lines to the stored response, if any.
    package func decide(_ cached: CachedMetadata?, target: String, cacheControl: [String], now: Int64) -> ClientDecision {
        var headers = HTTPHeaders()
        for line in cacheControl { headers.add(name: "Cache-Control", value: line) }
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
        switch self.policy.decide(request: request, stored: cached?.response, now: now) {
        case .fresh(let age), .staleAcceptedByRequest(let age): return .serve(age: age)
        case .gatewayTimeout: return .gatewayTimeout
        case .staleWhileRevalidate, .revalidate, .miss: return .fetch
        }
    }

    /// The `Age` of a stale stored response when it may be served because the origin failed
    /// (RFC 5861 §4, RFC 9111 §4.2.4); nil when it may not.
    package func staleAgeOnError(_ cached: CachedMetadata, now: Int64) -> Int64? {
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        guard self.policy.mayServeStaleOnError(request: request, stored: cached.response, now: now) else { return nil }
        return cached.response.currentAge(now: now)
    }

    /// The request sent to the origin for a miss on `target`.
    package func originRequest(target: String) -> OriginRequest {
        OriginRequest(target: target, headers: ["Host": self.origin.hostField, "User-Agent": "minicache"])
    }

    /// A recorder for a new fill: it keeps the body and stores it when the fill completes.
    func recorder(for key: CacheKey, request: OriginRequest) -> (OriginFill<String>) -> (any OriginResponseDelegate)? {
        { fill in FillRecorder(cache: self, fill: fill, digest: key.primaryDigest.bytes, request: request.head) }
    }

    /// Whether a response may be kept, as RFC 9111 §3 and this store allow.
    func shouldStore(request: HTTPRequestHead, response: HTTPResponseHead) -> Bool {
        guard response.status == .ok else { return false }
        if let length = response.headers.first(name: "content-length").flatMap({ Int($0) }), length > self.maxObjectSize {
            return false
        }
        return self.policy.storability(request: request, response: response) == .store
    }

    /// Hands a complete body to the store, then ends the fill's hold.
    func store(_ body: [UInt8], digest: [UInt8], metadata: StoredResponse, url: String, fill: OriginFill<String>) {
        self.store.store(digest: CacheDigest(bytes: digest), response: metadata, url: url, body: body) { stored in
            if stored { self.counters.withLock { $0.stored += 1 } }
            fill.release()
        }
    }

    /// Removes the stored response for each target (path and query at the origin).
    /// - Returns: how many were stored and are now gone.
    package func purge(targets: [String]) throws(MiniCacheError) -> Int {
        try self.store.removeNow(digests: targets.map { self.key(target: $0).key.primaryDigest })
    }

    func recordNotStored() {
        self.counters.withLock { $0.notStored += 1 }
    }
}

/// The first subscriber of a miss's fill: keeps the body of a storable response and hands it to
/// the store when, and only when, the origin finished it.
final class FillRecorder: OriginResponseDelegate {
    private struct State {
        var head: HTTPResponseHead?
        var responseTime: Int64 = 0
        var storing = false
        var body: [UInt8] = []
    }

    private let cache: PullThroughCache
    private let fill: OriginFill<String>
    private let digest: [UInt8]
    private let request: HTTPRequestHead
    private let requestTime = Int64(time(nil))
    private let state = Mutex(State())

    init(cache: PullThroughCache, fill: OriginFill<String>, digest: [UInt8], request: HTTPRequestHead) {
        self.cache = cache
        self.fill = fill
        self.digest = digest
        self.request = request
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        let storing = self.cache.shouldStore(request: self.request, response: head)
        self.state.withLock { state in
            state.head = head
            state.responseTime = Int64(time(nil))
            state.storing = storing
        }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        self.state.withLock { state in
            guard state.storing else { return }
            if state.body.count + part.readableBytes > self.cache.maxObjectSize {
                state.storing = false
                state.body = []
                return
            }
            state.body.append(contentsOf: part.readableBytesView)
        }
    }

    func originDidFinish() {
        let (head, responseTime, storing, body) = self.state.withLock { state in
            let taken = (state.head, state.responseTime, state.storing, state.body)
            state.body = []
            return taken
        }
        guard let head, storing,
            head.headers.first(name: "content-length").flatMap({ Int($0) }).map({ $0 == body.count }) ?? true
        else {
            self.cache.recordNotStored()
            self.fill.release()
            return
        }
        var metadata = StoredResponse(
            requestHeaders: self.request.headers, response: head, requestTime: self.requestTime, responseTime: responseTime)
        metadata.bodyLength = UInt64(body.count)
        self.cache.store(body, digest: self.digest, metadata: metadata, url: self.request.uri, fill: self.fill)
    }

    func originDidFail(_ error: OriginError) {
        self.state.withLock { $0.body = [] }
        self.fill.release()
    }
}
