/// The protocol state of one open stream of a server connection (RFC 9113 §5.1, §5.2): how far
/// the client's side has got and how many bytes the client's window lets the server send.
///
/// A stream is kept by ``HTTP2ConnectionStateMachine`` from the client's `HEADERS` until the
/// server's end is written or either side resets it; the server's side is open all that time.
struct HTTP2StreamState: Equatable {
    /// The client's side of the stream.
    enum Request: Equatable {
        /// Open: the request's body comes and is wanted.
        case receiving
        /// Open, but the request was answered before its body ended: the rest is dropped.
        case dropping
        /// Half-closed (remote): the client sent `END_STREAM`.
        case complete
    }

    /// The stream identifier.
    let id: UInt32
    var request: Request
    /// Bytes the client's window lets the server send on this stream; negative after the client
    /// lowered `SETTINGS_INITIAL_WINDOW_SIZE` below what was sent (RFC 9113 §6.9.2).
    var sendWindow: Int
}
