#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import NIOCore
import NIOHTTP1
import Synchronization

/// The first subscriber of a completion request's fill (RFC 9111 §3.4): when the origin's `206`
/// continues the stored prefix, stores the combined `200` (the prefix, then the rest) once the
/// origin finished it; any other answer is left to a ``FillRecorder`` (a `200` after a failed
/// `If-Range` is stored as any miss is).
final class CompletionRecorder: OriginResponseDelegate {
    private struct State {
        /// The combined response's head, once the origin's `206` continued the prefix.
        var whole: HTTPResponseHead?
        var responseTime: Int64 = 0
        var body = StoredBody()
    }

    private let cache: PullThroughCache
    private let prefix: StoredPrefix
    /// Records any answer that is not the rest of the prefix.
    private let other: FillRecorder
    private let release: @Sendable () -> Void
    private let key: CacheKey
    private let request: HTTPRequestHead
    private let varyIndex: VaryIndex?
    private let requestTime = Int64(time(nil))
    private let invalidationCount: UInt64
    private let state = Mutex(State())
    private let combining = Atomic<Bool>(false)

    init(
        cache: PullThroughCache, prefix: StoredPrefix, release: @escaping @Sendable () -> Void, key: CacheKey, request: HTTPRequestHead,
        varyIndex: VaryIndex?
    ) {
        self.cache = cache
        self.prefix = prefix
        self.release = release
        self.key = key
        self.request = request
        self.varyIndex = varyIndex
        self.invalidationCount = cache.invalidationCount
        self.other = FillRecorder(cache: cache, release: release, key: key, request: request, varyIndex: varyIndex, revalidating: nil)
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        guard head.status == .partialContent else { return self.other.originDidReceiveHead(head) }
        let whole = self.prefix.completion(by: head)
        if whole == nil {
            // The origin's representation is not the stored part's any more: drop the part, so
            // the next request fetches the whole response instead of failing the same way.
            let stored = self.prefix.stored
            self.cache.invalidate([stored.vary.isEmpty ? self.key.primaryDigest : self.key.digest(vary: stored.vary, requestHeaders: self.request.headers)])
        }
        self.combining.store(true, ordering: .releasing)
        self.state.withLock { state in
            state.whole = whole
            state.responseTime = Int64(time(nil))
            if whole != nil { state.body = StoredBody(parts: [self.prefix.body]) }
        }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        guard self.combining.load(ordering: .acquiring) else { return self.other.originDidReceiveBodyPart(part) }
        self.cache.stats?.originBytesReceived(part.readableBytes)
        self.state.withLock { state in
            guard state.whole != nil else { return }
            if state.body.count + part.readableBytes > self.cache.maxObjectSize {
                state.whole = nil
                state.body = StoredBody()
                return
            }
            state.body.append(part)
        }
    }

    func originDidFinish() {
        guard self.combining.load(ordering: .acquiring) else { return self.other.originDidFinish() }
        let (whole, responseTime, body) = self.state.withLock { state in
            let taken = (state.whole, state.responseTime, state.body)
            state.body = StoredBody()
            return taken
        }
        guard let whole, whole.headers.first(name: "content-length").flatMap({ Int($0) }) == body.count,
            self.cache.shouldStore(request: self.request, response: whole)
        else {
            self.cache.recordNotStored()
            self.release()
            return
        }
        let configuration = self.cache.rules.configuration
        var metadata = StoredResponse(
            requestHeaders: self.request.headers, response: whole, requestTime: self.requestTime, responseTime: responseTime,
            isShared: configuration.isShared, targets: configuration.targetedFields)
        metadata.bodyLength = UInt64(body.count)
        self.cache.store(
            body, key: self.key, request: self.request, metadata: metadata, varyIndex: self.varyIndex, since: self.invalidationCount,
            release: self.release)
    }

    func originDidFail(_ error: OriginError) {
        guard self.combining.load(ordering: .acquiring) else { return self.other.originDidFail(error) }
        self.cache.stats?.originFailed()
        self.state.withLock { $0.body = StoredBody() }
        self.release()
    }
}
