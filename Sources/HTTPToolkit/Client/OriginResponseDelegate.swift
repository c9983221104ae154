import NIOCore
import NIOHTTP1

/// Receives an origin response as it arrives.
///
/// Calls come on the event loop of the origin connection, in order: one
/// ``originDidReceiveHead(_:)``, any number of ``originDidReceiveBodyPart(_:)``, then exactly
/// one of ``originDidFinish()`` (the body is complete) or ``originDidFail(_:)``. A failure can
/// also come before the head. Implementations must not block.
package protocol OriginResponseDelegate: AnyObject, Sendable {
    /// The response head arrived (any status, including 5xx).
    func originDidReceiveHead(_ head: HTTPResponseHead)
    /// Body bytes arrived.
    func originDidReceiveBodyPart(_ part: ByteBuffer)
    /// The body is complete.
    func originDidFinish()
    /// The request failed; if a head was delivered, the body is incomplete.
    func originDidFail(_ error: OriginError)
}
