#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
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

    /// Whether the volume holds a fresh whole response under `digest`: a range fetched while the
    /// whole response was stored must not replace it.
    func holdsFreshWhole(_ digest: CacheDigest) -> Bool {
        let mount = self.volumes.current
        guard let index = mount.byDigest.lookup(Self.hex(digest, length: mount.digestHexLength)),
            let stored = mount.objects[index].cached?.response, stored.status != 206
        else { return false }
        return stored.currentAge(now: Int64(time(nil))) < stored.freshnessLifetime(self.rules.configuration)
    }
}
