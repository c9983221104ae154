/// A viewer's place in a shared fetch.
package struct UpstreamSubscription: Sendable {
    /// Whether this viewer's request started the fetch (a miss) or joined one (coalesced).
    package let isNew: Bool
    private let stop: @Sendable () -> Void

    init(isNew: Bool, stop: @escaping @Sendable () -> Void) {
        self.isNew = isNew
        self.stop = stop
    }

    /// Stops delivery to this viewer (a shared fetch goes on for the others).
    package func cancel() {
        self.stop()
    }
}
