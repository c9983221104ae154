import NIOCore
import Synchronization

/// Defers work until every event loop that answers requests has finished the task it was
/// running: a grace period in the sense of read-copy-update.
///
/// A connection answers a request within one task on its loop: it takes a snapshot of the mount,
/// looks the request up in it and then serves it or joins the fill of its key. A fill's hold
/// (or an invalidation's mark) that ended right after the store published a new mount would
/// leave a window in which a request decided on the older snapshot finds neither the new
/// object nor the fill to join, and goes to the origin again or serves what was invalidated
/// (RFC 9111 §4.3.4, §4.4). Ending those after a grace period closes it: by then every decision
/// taken on an older snapshot has joined the fill or seen the mark.
package final class SnapshotGrace: Sendable {
    private let loops: [any EventLoop]
    private let stopped = Atomic(false)

    /// A grace period over the loops of `group`.
    package init(group: any EventLoopGroup) {
        self.loops = Array(group.makeIterator())
    }

    /// No grace period: for a cache no event loop answers from (tests driving it directly).
    package init() {
        self.loops = []
    }

    /// Runs `body` once every loop has run the task it was running when this was called.
    package func after(_ body: @escaping @Sendable () -> Void) {
        guard let first = self.loops.first, !self.stopped.load(ordering: .acquiring) else {
            body()
            return
        }
        let passes = self.loops.map { $0.submit {} }
        EventLoopFuture.andAllComplete(passes, on: first).whenComplete { _ in body() }
    }

    /// No request is answered any more (the server is stopping and its loops will shut down):
    /// later work runs at once.
    package func stop() {
        self.stopped.store(true, ordering: .releasing)
    }
}
