import NIOCore
import NIOHTTP1

/// Receives an origin response as it arrives.
///
/// Calls come on the event loop of the origin connection, in order: any number of
/// ``originDidReceiveInformational(_:)``, one ``originDidReceiveHead(_:)``, any number of ``originDidReceiveBodyPart(_:)``, then exactly
/// one of ``originDidFinish()`` (the body is complete) or ``originDidFail(_:)``. A failure can
/// also come before the head. Implementations must not block.
package protocol OriginResponseDelegate: AnyObject, Sendable {
    /// An interim response (1xx other than 101, e.g. `103 Early Hints`) arrived; the final
    /// response is still to come (RFC 9110 §15.2). It is never the response to store or reuse.
    func originDidReceiveInformational(_ head: HTTPResponseHead)
    /// The response head arrived (any status, including 5xx).
    func originDidReceiveHead(_ head: HTTPResponseHead)
    /// Body bytes arrived.
    func originDidReceiveBodyPart(_ part: ByteBuffer)
    /// The body is complete.
    func originDidFinish()
    /// The request failed; if a head was delivered, the body is incomplete.
    func originDidFail(_ error: OriginError)
}

extension OriginResponseDelegate {
    /// Interim responses are ignored unless a delegate relays them.
    package func originDidReceiveInformational(_ head: HTTPResponseHead) {}
}
