/// A viewer's place in a shared fetch.
package struct UpstreamSubscription: Sendable {
    /// Whether this viewer's request started the fetch (a miss) or joined one (coalesced).
    package let isNew: Bool
    private let stop: @Sendable () -> Void
    private let backlog: @Sendable (Bool) -> Void

    init(isNew: Bool, stop: @escaping @Sendable () -> Void, backlog: @escaping @Sendable (Bool) -> Void) {
        self.isNew = isNew
        self.stop = stop
        self.backlog = backlog
    }

    /// Tells upstream this viewer has fallen behind (it holds more of the body than it can send)
    /// or caught up: a fetch reads its origin only while one of its viewers keeps up.
    package func viewerBacklogged(_ backlogged: Bool) {
        self.backlog(backlogged)
    }

    /// Stops delivery to this viewer (a shared fetch goes on for the others).
    package func cancel() {
        self.stop()
    }
}
