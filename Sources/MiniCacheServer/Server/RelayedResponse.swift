import NIOCore

/// A response being relayed from upstream, as far as the connection has got with it.
///
/// A class, changed in place: the connection looks it up for every upstream event, and copying
/// the exchange it holds in and out of the handler for each part was measurable on the live edge.
final class RelayedResponse {
    let request: UpstreamRequest
    /// The framing the request asked for.
    let framing: HTTP1ResponseWriter.Framing
    /// Tells this relay's events from those of one it replaced.
    let generation: Int
    /// Stops delivery (set once the relay started).
    var subscription: UpstreamSubscription?
    /// How the body is framed, once the head is written.
    var body: HTTP1ResponseWriter.RelayFraming?
    /// Body parts received while the client could not take them, in order (the buffers upstream
    /// delivered, shared with its other viewers), and their bytes.
    var backlog = CircularBuffer<ByteBuffer>()
    var backlogBytes = 0
    /// Upstream was told this client is behind.
    var isBehind = false
    /// The body ended upstream while parts were still queued.
    var ended = false
    /// Body bytes relayed so far.
    private var sent: Int64 = 0

    init(request: UpstreamRequest, framing: HTTP1ResponseWriter.Framing, generation: Int) {
        self.request = request
        self.framing = framing
        self.generation = generation
    }

    /// The counters of a link's object follow the transfer; a cache response has none.
    private var counters: ObjectCounters? {
        if case .link(_, let object) = self.request { return object.counters }
        return nil
    }

    func recordProgress(_ count: Int) {
        let before = self.sent
        self.sent += Int64(count)
        self.counters?.recordProgress(before: before, after: self.sent, total: self.sent)
    }

    func recordCompletion() {
        self.counters?.recordCompletion()
    }
}
