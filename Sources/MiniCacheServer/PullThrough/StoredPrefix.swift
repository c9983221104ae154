import NIOCore
import NIOHTTP1

/// A stored `206` that holds the start of a representation (RFC 9111 §3.3), with its body,
/// while a request for the rest of it is under way: the origin's `206` for the rest is combined
/// with it into the whole `200` (RFC 9111 §3.4, RFC 9110 §15.3.7.3).
package struct StoredPrefix: Sendable {
    /// The stored partial response.
    package let stored: StoredResponse
    /// Its body: bytes `0..<body.readableBytes` of the representation.
    package let body: ByteBuffer

    /// The head of the whole representation when `head` continues this prefix to its end, else nil.
    func completion(by head: HTTPResponseHead) -> HTTPResponseHead? {
        self.stored.completion(by: head, storedLength: Int64(self.body.readableBytes))
    }
}
