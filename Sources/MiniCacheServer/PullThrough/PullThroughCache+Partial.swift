import HTTPToolkit
import NIOHTTP1

extension PullThroughCache {
    /// A recorder for a fill that completes `prefix` (RFC 9111 §3.4): it stores the combined
    /// response, or what the origin sent instead.
    func completionRecorder(key: CacheKey, request: HTTPRequestHead, varyIndex: VaryIndex?, prefix: StoredPrefix)
        -> (OriginFill<String>) -> (any OriginResponseDelegate)?
    {
        { fill in
            CompletionRecorder(
                cache: self, prefix: prefix, release: { self.grace.after { fill.release() } }, key: key, request: request, varyIndex: varyIndex)
        }
    }
}
