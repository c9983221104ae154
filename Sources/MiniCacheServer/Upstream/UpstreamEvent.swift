import NIOCore
import NIOHTTP1

/// What the connection relaying a link or a cache exchange receives from upstream, in order.
package enum UpstreamEvent: Sendable {
    /// An interim response (1xx, e.g. `103 Early Hints`) before the final one (RFC 9110 §15.2):
    /// relayed to clients that may receive it, never stored.
    case informational(HTTPResponseHead)
    /// The response head: a link's `200`; whatever the origin answers a cache exchange.
    /// `joined` is set for a viewer that joined a fetch already in flight (a coalesced request):
    /// the response was not fetched for it, so its answer carries `Age` (RFC 9111 §5.1).
    case response(HTTPResponseHead, joined: FillTimes?)
    /// Body bytes; `file` says where they also lie in the shared fetch's memory file, for a
    /// connection that can send them from there with `sendfile` (nil: buffers only).
    case body(ByteBuffer, file: FileSpan?)
    case end
    /// The shared fetch turned out not to be for this viewer (another `Vary` variant, or a
    /// response for its requester only): the viewer must fetch on its own.
    case fetchSeparately
    /// The remote failed (502), did not answer in time (504) or has no such object (404).
    case failed(HTTPStatus, String)
}
