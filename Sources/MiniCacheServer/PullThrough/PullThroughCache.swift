#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import SHFS
import Synchronization

/// Makes the server a shared HTTP cache (RFC 9111) in front of one or more origins: a GET or HEAD
/// the volume cannot answer is fetched from the origin (one fetch per cache key, later requests
/// join it), streamed to its clients, and a complete, storable response is written to the volume
/// as a hidden object whose digest is the SHA-256 of the cache key (with the `Vary`'d request
/// fields); later requests are answered from the volume, revalidated when stale.
///
/// The volume is written by the ``CacheStore`` on its own thread; the entry write is the commit,
/// so a fill that fails or is cut short stores nothing.
package final class PullThroughCache: Sendable {
    /// Where requests go, by host and path prefix.
    package let router: OriginRouter
    /// The largest body stored; larger ones stream through.
    package let maxObjectSize: Int
    /// The largest request body forwarded for other methods (413 beyond).
    package let maxRequestBody: Int
    package let rules: CacheRules
    let volumes: MountedVolume
    /// Where fetched responses are kept.
    package let store: CacheStore
    let logger: Logger
    /// Where the cache counts what it does (revalidation outcomes, origin bytes).
    package let stats: ServerStats?
    private let counters = Mutex(Counters())
    private let heads = Mutex(HitHeads())
    private let fastHits = Mutex(FastHits())
    /// Keys with a background revalidation (`stale-while-revalidate`) in flight.
    private let backgroundKeys = Mutex(Set<CacheDigest>())
    /// Ends fill holds and invalidation marks only once no request can still be deciding on a
    /// mount from before the store's change.
    let grace: SnapshotGrace

    /// What the cache has done since it started.
    package struct Counters: Sendable, Equatable {
        package var stored = 0
        package var notStored = 0
    }

    /// The prepared response heads of cached objects, for the hit path (built at first use). An
    /// entry holds its object weakly and is used only for that very object, so entries of
    /// replaced objects are never used and mounts derived by the store keep their entries.
    private struct HitHeads {
        var heads: [ObjectIdentifier: (object: Weak, head: HitHead)] = [:]
    }

    struct Weak {
        weak var object: PreparedObject?
    }

    /// Entries kept in each memo; a full memo drops the entries of objects that are gone, or all.
    static let memoLimit = 65536

    /// A fresh, `Vary`-free stored response by request host and target, so a plain request (no
    /// conditionals, range, `Cache-Control` or `Pragma`) is answered without parsing its fields,
    /// building its key or hashing it. An entry is used only while its object is still the one
    /// the mount holds under its digest, and only while fresh.
    struct FastHit {
        let object: Weak
        /// The digest hex the mount indexes the object by.
        let hex: [UInt8]
        let head: HitHead
        /// `corrected_initial_age` and `response_time` of RFC 9111 §4.2.3, and the freshness lifetime.
        let initialAge: Int64
        let responseTime: Int64
        let lifetime: Int64
        /// The digest the response is stored under, to check against invalidations.
        let digest: CacheDigest

        func age(now: Int64) -> Int64 { self.initialAge + max(0, now - self.responseTime) }
    }

    private struct FastHits {
        var hits: [FastHitKey: FastHit] = [:]
        /// Digests invalidated by an unsafe request whose removal from the volume is pending,
        /// with how many removals are pending for each: lookups treat them as absent at once.
        var invalidated: [CacheDigest: Int] = [:]
        /// Invalidations so far, and the most recent ones with the count at which each happened:
        /// a fill that started before an invalidation of its key must not store what it fetched.
        var invalidations: UInt64 = 0
        var recentInvalidations: [(digest: CacheDigest, at: UInt64)] = []
    }

    /// How many recent invalidations are remembered for fills in flight; a fill older than all of
    /// them is not stored if anything was invalidated since it started.
    private static let recentInvalidationLimit = 4096

    package init(
        router: OriginRouter,
        maxObjectSize: Int,
        maxRequestBody: Int = 8 << 20,
        rules: CacheRules = CacheRules(),
        volumes: MountedVolume,
        stats: ServerStats? = nil,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        grace: SnapshotGrace = SnapshotGrace(),
        logger: Logger
    ) {
        self.grace = grace
        self.router = router
        self.stats = stats
        self.maxObjectSize = maxObjectSize
        self.maxRequestBody = maxRequestBody
        self.rules = rules
        self.volumes = volumes
        self.store = CacheStore(volumes: volumes, logger: logger, metricsFactory: metricsFactory)
        self.logger = logger
    }

    package convenience init(origin: OriginAddress, maxObjectSize: Int, volumes: MountedVolume, stats: ServerStats? = nil, logger: Logger) {
        self.init(router: OriginRouter(origin: origin), maxObjectSize: maxObjectSize, volumes: volumes, stats: stats, logger: logger)
    }

    package var statistics: Counters { self.counters.withLock { $0 } }

    /// The origin of the default rule (for tools that name one origin).
    package var origin: OriginAddress? { self.router.origin(host: nil, target: "/") }

    /// The cache key of a request to `origin`: the origin's authority, so two origins never share keys.
    package func key(target: String, origin: OriginAddress) -> CacheKey {
        CacheKey(method: .GET, scheme: "http", authority: origin.hostField, target: target)
    }

    /// The cache key of a target at the default origin (admin purges), and its hex digest.
    package func key(target: String) -> (key: CacheKey, hexDigest: String) {
        let key = self.key(target: target, origin: self.origin ?? OriginAddress(host: "", port: 80))
        return (key, key.primaryDigest.description)
    }

    /// The lower-case hex digits of `digest` a mount indexes objects by.
    static func hex(_ digest: CacheDigest, length: Int) -> [UInt8] {
        Hex.digits(digest.bytes, count: length)
    }

    /// What the mount holds for a request: the stored response of its variant (if any) and the
    /// digest it is (or would be) stored under.
    package struct Lookup {
        package var object: PreparedObject?
        package var digest: CacheDigest
        /// The `Vary` index at the primary key, when the URL's responses vary.
        package var varyIndex: VaryIndex?
    }

    /// Looks `key` up in `mount`, following a `Vary` index to the variant `request` selects (§4.1).
    package func lookup(_ key: CacheKey, request: HTTPRequestHead, in mount: Mount) -> Lookup {
        let primary = key.primaryDigest
        let invalidated = self.fastHits.withLock { $0.invalidated }
        guard invalidated[primary] == nil, let index = mount.byDigest.lookup(Self.hex(primary, length: mount.digestHexLength)) else {
            return Lookup(object: nil, digest: primary)
        }
        let object = mount.objects[index]
        if object.cached != nil { return Lookup(object: object, digest: primary) }
        guard let vary = Self.varyIndex(object, in: mount) else { return Lookup(object: nil, digest: primary) }
        if vary.selector.isWildcard { return Lookup(object: nil, digest: primary, varyIndex: vary) }
        let digest = key.digest(vary: vary.selector, requestHeaders: request.headers)
        guard invalidated[digest] == nil, let variant = mount.byDigest.lookup(Self.hex(digest, length: mount.digestHexLength)),
            mount.objects[variant].cached != nil
        else { return Lookup(object: nil, digest: digest, varyIndex: vary) }
        return Lookup(object: mount.objects[variant], digest: digest, varyIndex: vary)
    }

    /// The `Vary` index a hidden object holds, if it is one.
    static func varyIndex(_ object: PreparedObject, in mount: Mount) -> VaryIndex? {
        guard object.entry.isHidden, object.cached == nil else { return nil }
        var buffer: ByteBuffer
        if let body = object.body {
            buffer = body
        } else {
            guard object.length <= 1 << 20, let bytes = try? mount.volume.contents(of: object.entry) else { return nil }
            buffer = ByteBuffer(bytes: bytes)
        }
        guard VaryIndex.kind(of: buffer) == .varyIndex else { return nil }
        return try? VaryIndex(decoding: &buffer)
    }

    /// Stored fields a hit does not send: the targeted cache-control fields the cache obeys (RFC 9213).
    var withheldFields: Set<String> { Set(self.rules.configuration.targetedFields.map(\.name)) }

    /// The prepared head of a cached object's stored response, built once per object.
    func hitHead(_ object: PreparedObject, stored: StoredResponse, serverName: String) -> HitHead {
        let id = ObjectIdentifier(object)
        if let head = self.heads.withLock({ state in state.heads[id].flatMap { $0.object.object === object ? $0.head : nil } }) {
            return head
        }
        let head = HitHead(stored, bodyLength: object.length, serverName: serverName, withheld: self.withheldFields)
        self.heads.withLock { state in
            if state.heads.count >= Self.memoLimit {
                state.heads = state.heads.filter { $0.value.object.object != nil }
                if state.heads.count >= Self.memoLimit / 2 { state.heads = [:] }
            }
            state.heads[id] = (Weak(object: object), head)
        }
        return head
    }

    /// The object and head remembered for `key` when `mount` still holds that object.
    func fastHit(_ key: FastHitKey, in mount: Mount) -> (object: PreparedObject, hit: FastHit)? {
        let found = self.fastHits.withLock { state -> FastHit? in
            guard let hit = state.hits[key] else { return nil }
            return state.invalidated.isEmpty || state.invalidated[hit.digest] == nil ? hit : nil
        }
        guard let hit = found, let object = hit.object.object,
            let slot = mount.byDigest.lookup(hit.hex), mount.objects[slot] === object
        else { return nil }
        return (object, hit)
    }

    /// Remembers a fresh stored response for plain requests with `key`.
    func rememberFastHit(_ key: FastHitKey, object: PreparedObject, digest: CacheDigest, stored: StoredResponse, in mount: Mount, serverName: String) {
        let hit = FastHit(
            object: Weak(object: object), hex: Self.hex(digest, length: mount.digestHexLength),
            head: self.hitHead(object, stored: stored, serverName: serverName),
            initialAge: stored.currentAge(now: stored.responseTime), responseTime: stored.responseTime,
            lifetime: stored.freshnessLifetime(self.rules.configuration), digest: digest)
        self.fastHits.withLock { state in
            if state.hits.count >= Self.memoLimit {
                state.hits = state.hits.filter { $0.value.object.object != nil }
                if state.hits.count >= Self.memoLimit / 2 { state.hits = [:] }
            }
            state.hits[key.owned()] = hit
        }
    }

    /// Whether a background revalidation may start for `digest` (one at a time per key); the
    /// caller ends it with ``endBackgroundRevalidation(_:)``.
    func beginBackgroundRevalidation(_ digest: CacheDigest) -> Bool {
        self.backgroundKeys.withLock { $0.insert(digest).inserted }
    }

    func endBackgroundRevalidation(_ digest: CacheDigest) {
        _ = self.backgroundKeys.withLock { $0.remove(digest) }
    }

    /// Hop-by-hop fields a proxy never forwards (RFC 9110 §7.6.1), with the ones `Connection` names.
    static let hopByHop: Set<String> = [
        "connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade", "proxy-authorization",
        "proxy-authenticate", "trailer",
    ]

    /// The end-to-end fields of `headers`: hop-by-hop fields and those `Connection` lists removed.
    static func endToEnd(_ headers: HTTPHeaders) -> HTTPHeaders {
        var excluded = Self.hopByHop
        for line in headers["connection"] {
            for option in HTTPListParser.elements(line) { excluded.insert(option.lowercased()) }
        }
        var result = HTTPHeaders()
        for (name, value) in headers where !excluded.contains(name.lowercased()) { result.add(name: name, value: value) }
        return result
    }

    /// The request sent to `origin` for a client's `request`: its end-to-end fields, `Host` set
    /// to the origin's, `Via` added (RFC 9110 §7.6.3).
    /// - Parameter forStoring: drop the client's own conditionals and `Range` so the origin sends
    ///   a complete response the cache can keep and share (the cache answers them itself).
    package func originRequest(for request: HTTPRequestHead, to origin: OriginAddress, body: ByteBuffer? = nil, forStoring: Bool) -> OriginRequest {
        var headers = Self.endToEnd(request.headers)
        headers.remove(name: "host")
        if forStoring {
            for name in ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"] {
                headers.remove(name: name)
            }
        }
        headers.remove(name: "content-length")
        headers.replaceOrAdd(name: "Host", value: origin.hostField)
        let via = "1.\(request.version.minor) minicache"
        if let previous = headers["via"].last {
            headers.remove(name: "via")
            headers.add(name: "Via", value: previous + ", " + via)
        } else {
            headers.add(name: "Via", value: via)
        }
        if self.rules.configuration.targetedFields.contains(.surrogateControl) {
            // W3C Edge Architecture: a surrogate announces itself so the origin can aim directives at it.
            let capability = "\(TargetedField.surrogateToken)=\"Surrogate/1.0\""
            let previous = headers["surrogate-capability"].joined(separator: ", ")
            headers.replaceOrAdd(name: "Surrogate-Capability", value: previous.isEmpty ? capability : previous + ", " + capability)
        }
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.uri, headers: headers)
        if request.method == .HEAD, forStoring { head.method = .GET }
        return OriginRequest(head: head, body: body)
    }

    /// The keys' stored objects to remove after an unsafe request (RFC 9111 §4.4): every
    /// primary digest and every variant its `Vary` index lists.
    func invalidationDigests(_ keys: [CacheKey], in mount: Mount) -> [CacheDigest] {
        var digests: [CacheDigest] = []
        for key in keys {
            let primary = key.primaryDigest
            digests.append(primary)
            if let index = mount.byDigest.lookup(Self.hex(primary, length: mount.digestHexLength)),
                let vary = Self.varyIndex(mount.objects[index], in: mount)
            {
                digests += vary.variants
            }
        }
        return digests
    }

    /// Invalidates the stored responses under `digests` (RFC 9111 §4.4): lookups and fast hits
    /// treat them as absent from now on, before the store thread removes them from the volume.
    func invalidate(_ digests: [CacheDigest]) {
        guard !digests.isEmpty else { return }
        self.fastHits.withLock { state in
            state.invalidations += 1
            for digest in digests {
                state.invalidated[digest, default: 0] += 1
                state.recentInvalidations.append((digest, state.invalidations))
            }
            if state.recentInvalidations.count > Self.recentInvalidationLimit {
                state.recentInvalidations.removeFirst(state.recentInvalidations.count - Self.recentInvalidationLimit)
            }
        }
        self.store.remove(digests: digests) { _ in
            self.grace.after { self.unmark(digests) }
        }
    }

    /// The removal of `digests` is in every mount a request can still decide on.
    private func unmark(_ digests: [CacheDigest]) {
        self.fastHits.withLock { state in
            for digest in digests {
                let pending = state.invalidated[digest, default: 1] - 1
                state.invalidated[digest] = pending > 0 ? pending : nil
            }
        }
    }

    /// The invalidation count now, for a fill to check later with ``wasInvalidated(_:since:)``.
    var invalidationCount: UInt64 { self.fastHits.withLock { $0.invalidations } }

    /// Whether any of `digests` was invalidated after the count was `since` (when the history no
    /// longer reaches back that far: whether anything was).
    func wasInvalidated(_ digests: [CacheDigest], since: UInt64) -> Bool {
        self.fastHits.withLock { state in
            guard state.invalidations > since else { return false }
            guard let oldest = state.recentInvalidations.first, oldest.at <= since + 1 else { return true }
            return state.recentInvalidations.contains { $0.at > since && digests.contains($0.digest) }
        }
    }

    /// A recorder for a new fill: it keeps the body and stores it when the fill completes.
    /// - Parameters:
    ///   - revalidating: the digest and stored response a conditional request revalidates; a
    ///     `304` then updates the stored metadata (RFC 9111 §4.3.4).
    ///   - onRelease: called once the fill's outcome is in the volume (or was not stored).
    func recorder(
        key: CacheKey,
        request: HTTPRequestHead,
        varyIndex: VaryIndex?,
        revalidating: (CacheDigest, StoredResponse)? = nil,
        onRelease: (@Sendable () -> Void)? = nil
    ) -> (OriginFill<String>) -> (any OriginResponseDelegate)? {
        { fill in
            FillRecorder(
                cache: self, release: { self.grace.after { fill.release(); onRelease?() } }, key: key, request: request, varyIndex: varyIndex,
                revalidating: revalidating)
        }
    }

    /// Applies a `304` to the stored response under `digest` (RFC 9111 §4.3.4), then ends the fill's hold.
    func update(_ digest: CacheDigest, stored: StoredResponse, with head: HTTPResponseHead, requestTime: Int64, responseTime: Int64, release: @escaping @Sendable () -> Void) {
        guard let updated = self.rules.updating(stored, with: head, requestTime: requestTime, responseTime: responseTime) else {
            release()
            return
        }
        self.store.updateMetadata(digest: digest, response: updated) { _ in release() }
    }

    /// Whether a response may be kept, as RFC 9111 §3 and this store allow.
    func shouldStore(request: HTTPRequestHead, response: HTTPResponseHead) -> Bool {
        if let length = response.headers.first(name: "content-length").flatMap({ Int($0) }), length > self.maxObjectSize {
            return false
        }
        return self.rules.storability(request: request, response: response) == .store
    }

    /// Stores a complete response (and the `Vary` index naming it), then ends the fill's hold.
    /// - Parameter since: the invalidation count when the fill started: a response fetched
    ///   before an unsafe request invalidated its key (RFC 9111 §4.4) is not stored.
    func store(
        _ body: StoredBody, key: CacheKey, request: HTTPRequestHead, metadata: StoredResponse, varyIndex: VaryIndex?, since: UInt64,
        release: @escaping @Sendable () -> Void
    ) {
        // A 206 is kept as the range it holds, or as the 200 it stands for when it holds everything.
        guard let metadata = metadata.storedForm(bodyLength: Int64(body.count)) else {
            self.recordNotStored()
            release()
            return
        }
        // The store's purges match the path and query (`/live/seg1.ts`), whatever the origin.
        let url = key.target
        let primary = key.primaryDigest
        let variant = metadata.vary.isEmpty ? primary : key.digest(vary: metadata.vary, requestHeaders: request.headers)
        // Checked here, on the fill's loop; an invalidation after this point queues its removal
        // behind this store on the store thread.
        if self.wasInvalidated([primary, variant], since: since) || (metadata.status == 206 && self.holdsFreshWhole(variant)) {
            self.counters.withLock { $0.notStored += 1 }
            release()
            return
        }
        if metadata.vary.isEmpty {
            if let varyIndex { self.store.remove(digests: varyIndex.variants) }
            self.store.store(digest: primary, response: metadata, url: url, body: body) { stored in
                self.counters.withLock { stored ? ($0.stored += 1) : ($0.notStored += 1) }
                release()
            }
            return
        }
        let digest = variant
        var index = varyIndex.flatMap { $0.selector == metadata.vary ? $0 : nil } ?? VaryIndex(selector: metadata.vary)
        let dropped = index.add(digest)
        if let old = varyIndex, old.selector != metadata.vary { self.store.remove(digests: old.variants) }
        if !dropped.isEmpty { self.store.remove(digests: dropped) }
        let record = Array(index.encoded().readableBytesView)
        self.store.store(digest: digest, response: metadata, url: url, body: body) { stored in
            guard stored else {
                self.counters.withLock { $0.notStored += 1 }
                release()
                return
            }
            self.store.store(digest: primary, record: record) { indexed in
                self.counters.withLock { indexed ? ($0.stored += 1) : ($0.notStored += 1) }
                release()
            }
        }
    }

    /// Removes the stored responses for each target (path and query at the default origin),
    /// with every `Vary` variant.
    /// - Returns: how many were stored and are now gone.
    package func purge(targets: [String]) throws(MiniCacheError) -> Int {
        guard let origin = self.origin else { return 0 }
        let keys = targets.map { self.key(target: $0, origin: origin) }
        return try self.store.removeNow(digests: self.invalidationDigests(keys, in: self.volumes.current))
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
        /// The body as received (the fill's buffers, shared, not copied).
        var body = StoredBody()
    }

    private let cache: PullThroughCache
    /// Ends the fill's hold (after the store committed or gave up).
    private let release: @Sendable () -> Void
    private let key: CacheKey
    private let request: HTTPRequestHead
    private let varyIndex: VaryIndex?
    private let revalidating: (digest: CacheDigest, stored: StoredResponse)?
    private let requestTime = Int64(time(nil))
    /// The cache's invalidation count when the fill started.
    private let invalidationCount: UInt64
    private let state = Mutex(State())

    init(
        cache: PullThroughCache,
        release: @escaping @Sendable () -> Void,
        key: CacheKey,
        request: HTTPRequestHead,
        varyIndex: VaryIndex?,
        revalidating: (CacheDigest, StoredResponse)?
    ) {
        self.cache = cache
        self.release = release
        self.key = key
        self.request = request
        self.varyIndex = varyIndex
        self.revalidating = revalidating
        self.invalidationCount = cache.invalidationCount
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        if let revalidating {
            self.cache.stats?.cacheRevalidated(notModified: head.status == .notModified)
            if head.status == .notModified {
                self.state.withLock { $0.head = head }
                self.cache.update(
                    revalidating.digest, stored: revalidating.stored, with: head, requestTime: self.requestTime,
                    responseTime: Int64(time(nil)), release: self.release)
                return
            }
        }
        self.record(head)
    }

    /// Records `head` as the response to store, its body starting with `prefix`: bytes the cache
    /// holds already (the stored part a completion request continues, RFC 9111 §3.4), not
    /// counted as origin bytes; the origin's body parts follow it. Nothing is stored when
    /// `storable` is false, or when the rules or the size limit say no.
    func record(_ head: HTTPResponseHead, prefix: ByteBuffer? = nil, storable: Bool = true) {
        let storing = storable && self.cache.shouldStore(request: self.request, response: head)
        self.state.withLock { state in
            state.head = head
            state.responseTime = Int64(time(nil))
            state.storing = storing
            if storing, let prefix { state.body.append(prefix) }
        }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        self.cache.stats?.originBytesReceived(part.readableBytes)
        self.state.withLock { state in
            guard state.storing else { return }
            if state.body.count + part.readableBytes > self.cache.maxObjectSize {
                state.storing = false
                state.body = StoredBody()
                return
            }
            state.body.append(part)
        }
    }

    func originDidFinish() {
        let (head, responseTime, storing, body) = self.state.withLock { state in
            let taken = (state.head, state.responseTime, state.storing, state.body)
            state.body = StoredBody()
            return taken
        }
        if head?.status == .notModified, self.revalidating != nil { return }
        guard let head, storing,
            head.headers.first(name: "content-length").flatMap({ Int($0) }).map({ $0 == body.count }) ?? true
        else {
            self.cache.recordNotStored()
            self.release()
            return
        }
        let configuration = self.cache.rules.configuration
        var metadata = StoredResponse(
            requestHeaders: self.request.headers, response: head, requestTime: self.requestTime, responseTime: responseTime,
            isShared: configuration.isShared, targets: configuration.targetedFields)
        metadata.bodyLength = UInt64(body.count)
        self.cache.store(body, key: self.key, request: self.request, metadata: metadata, varyIndex: self.varyIndex, since: self.invalidationCount,
            release: self.release)
    }

    func originDidFail(_ error: OriginError) {
        self.cache.stats?.originFailed()
        let (notModified, afterHead) = self.state.withLock { state in
            state.body = StoredBody()
            return (state.head?.status == .notModified, state.head != nil)
        }
        if afterHead {
            // Once per fill: each viewer's response is cut (its head is out), nothing is stored.
            self.cache.logger.warning(
                "origin fetch failed mid-body; its responses are cut and nothing is stored",
                metadata: ["cache.key": "\(self.key.target)", "error": "\(error)"])
        }
        if !notModified { self.release() }
    }
}
