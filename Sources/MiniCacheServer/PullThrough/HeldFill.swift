import NIOCore
import Synchronization

/// A miss's response whose fetch ended and which waits for the store to commit it, prepared once
/// so that a plain request for the same URL meanwhile is answered as a stored response would be —
/// the head built once, the body sent from the fill's memory file — instead of joining the fill
/// as a relay: a live segment is asked for by hundreds of viewers while its store syncs.
///
/// The response was not fetched for those requests: they get `Age` and `X-Cache: COALESCED`
/// (RFC 9111 §5.1), as joiners of the fill do.
package final class HeldFill: Sendable {
    /// The head of the response as its hits will send it.
    let head: HitHead
    /// The body as received (the fill's buffers, shared).
    let body: StoredBody
    /// The digest the response is being stored under, to check against invalidations.
    let digest: CacheDigest
    /// `corrected_initial_age` and `response_time` of RFC 9111 §4.2.3, and the freshness lifetime.
    let initialAge: Int64
    let responseTime: Int64
    let lifetime: Int64
    /// The body in a memory file: the fill's own, or one made from `body` for the first request
    /// that can send it with `sendfile`; `refused` once that could not be made.
    private let file: Mutex<(span: FileSpan?, refused: Bool)>

    /// - Parameter file: the whole body in the fill's memory file, when the fill made one.
    init(_ stored: StoredResponse, body: StoredBody, digest: CacheDigest, lifetime: Int64, file: FileSpan?, serverName: String, withheld: Set<String>) {
        self.head = HitHead(stored, bodyLength: Int64(body.count), serverName: serverName, withheld: withheld)
        self.body = body
        self.digest = digest
        self.initialAge = stored.currentAge(now: stored.responseTime)
        self.responseTime = stored.responseTime
        self.lifetime = lifetime
        self.file = Mutex((file, false))
    }

    /// The response's age at `now` (RFC 9111 §4.2.3).
    func age(now: Int64) -> Int64 { self.initialAge + max(0, now - self.responseTime) }

    /// The whole body in a memory file, made at the first call when the fill had none; nil when
    /// the system gives no memory file (the body is then sent from its buffers).
    func fileSpan() -> FileSpan? {
        self.file.withLock { file in
            if let span = file.span { return span }
            guard !file.refused else { return nil }
            guard let made = FillFile() else {
                file.refused = true
                return nil
            }
            var offset = 0
            for part in self.body.parts {
                guard made.write(part, at: offset) else {
                    file.refused = true
                    return nil
                }
                offset += part.readableBytes
            }
            let span = FileSpan(file: made, offset: 0, length: offset)
            file.span = span
            return span
        }
    }
}
