import HTTPToolkit
import NIOCore
import NIOHTTP1

/// The first subscriber of a completion request's fill (RFC 9111 §3.4): when the origin's `206`
/// continues the stored prefix, a ``FillRecorder`` records the combined `200` (the prefix, then
/// the rest) and stores it once the origin finished it; any other answer is recorded as any
/// miss's (a `200` after a failed `If-Range` is stored as any miss is).
final class CompletionRecorder: OriginResponseDelegate {
    private let cache: PullThroughCache
    private let prefix: StoredPrefix
    private let recorder: FillRecorder
    private let key: CacheKey
    private let request: HTTPRequestHead

    init(
        cache: PullThroughCache, prefix: StoredPrefix, release: @escaping @Sendable () -> Void, key: CacheKey, request: HTTPRequestHead,
        varyIndex: VaryIndex?
    ) {
        self.cache = cache
        self.prefix = prefix
        self.key = key
        self.request = request
        self.recorder = FillRecorder(cache: cache, release: release, key: key, request: request, varyIndex: varyIndex, revalidating: nil)
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        guard head.status == .partialContent else { return self.recorder.originDidReceiveHead(head) }
        guard let whole = self.prefix.completion(by: head) else {
            // The origin's representation is not the stored part's any more: drop the part, so
            // the next request fetches the whole response instead of failing the same way.
            let stored = self.prefix.stored
            self.cache.invalidate([stored.vary.isEmpty ? self.key.primaryDigest : self.key.digest(vary: stored.vary, requestHeaders: self.request.headers)])
            return self.recorder.record(head, storable: false)
        }
        self.recorder.record(whole, prefix: self.prefix.body)
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        self.recorder.originDidReceiveBodyPart(part)
    }

    func originDidFinish() {
        self.recorder.originDidFinish()
    }

    func originDidFail(_ error: OriginError) {
        self.recorder.originDidFail(error)
    }
}
