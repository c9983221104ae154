import NIOCore
import Synchronization

/// A handle on a request in flight to an origin, to cancel it (for example when the last
/// client of a pass-through response went away).
package final class OriginTask: Sendable {
    private struct State {
        var isCancelled = false
        var running: NIOLoopBound<OriginConnectionHandler>?
    }

    private let state = Mutex(State())

    init() {}

    /// Fails the request with ``OriginError/Code/cancelled`` and closes its connection;
    /// nothing happens if it already ended.
    package func cancel() {
        let running = state.withLock { state in
            state.isCancelled = true
            return state.running
        }
        guard let running else { return }
        running.eventLoop.execute { running.value.cancel() }
    }

    /// Stops reading the response until ``resumeReading()``, so a consumer that cannot keep up
    /// (a slow client of a pass-through response) holds back the origin through TCP instead
    /// of buffering the body in memory. The read timeout does not run while paused.
    /// - Returns: completed once the connection stopped reading (nil when the request is not
    ///   running).
    @discardableResult
    package func pauseReading() -> EventLoopFuture<Void>? {
        guard let running = state.withLock({ $0.running }) else { return nil }
        return running.eventLoop.submit { running.value.pauseReading() }
    }

    /// Reads the response again after ``pauseReading()``.
    package func resumeReading() {
        guard let running = state.withLock({ $0.running }) else { return }
        running.eventLoop.execute { running.value.resumeReading() }
    }

    /// Whether ``cancel()`` was called.
    package var isCancelled: Bool { state.withLock { $0.isCancelled } }

    /// Records the handler running the request; returns `false` if already cancelled.
    func attach(_ handler: NIOLoopBound<OriginConnectionHandler>) -> Bool {
        state.withLock { state in
            guard !state.isCancelled else { return false }
            state.running = handler
            return true
        }
    }

    func detach() {
        state.withLock { $0.running = nil }
    }
}
