import NIOCore
import NIOHTTP1

/// What the connection relaying a link or a cache exchange receives from upstream, in order.
package enum UpstreamEvent: Sendable {
    /// The response head: a link's `200`; whatever the origin answers a cache exchange.
    case response(HTTPResponseHead)
    case body(ByteBuffer)
    case end
    /// The shared fetch turned out not to be for this viewer (another `Vary` variant, or a
    /// response for its requester only): the viewer must fetch on its own.
    case fetchSeparately
    /// The remote failed (502), did not answer in time (504) or has no such object (404).
    case failed(HTTPStatus, String)
}
