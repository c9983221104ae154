import Synchronization

/// Wakes one waiting task when something happens, so that a service with nothing to do sleeps
/// without a timer. Signalling while nobody waits costs one atomic load.
package final class ActivitySignal: Sendable {
    private let waiting = Atomic<Bool>(false)
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    package init() {
        (self.stream, self.continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether a task waits for the next signal.
    package var isWaiting: Bool { self.waiting.load(ordering: .sequentiallyConsistent) }

    /// Something happened: wakes the waiting task, if there is one.
    package func signal() {
        guard self.waiting.load(ordering: .sequentiallyConsistent), self.waiting.exchange(false, ordering: .sequentiallyConsistent) else {
            return
        }
        self.continuation.yield()
    }

    /// Returns at once when `happened` says so, else once a signal comes. One task at a time.
    /// - Parameter happened: checked after the waiter is announced, so that what happened
    ///   between the caller's last look and the wait is not missed.
    /// - Returns: false when the task was cancelled.
    package func wait(unless happened: () -> Bool) async -> Bool {
        self.waiting.store(true, ordering: .sequentiallyConsistent)
        if happened() {
            self.waiting.store(false, ordering: .sequentiallyConsistent)
            return true
        }
        var next = self.stream.makeAsyncIterator()
        return await next.next() != nil
    }
}
