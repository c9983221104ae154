import HTTPToolkit
import Synchronization

/// Whether a backend is starting instances: how many starts are in flight and when the last one
/// ended. Background work that competes with starts for the cores and the kernel's locks (the
/// network pool's filler) waits until starts pause.
final class StartActivity: Sendable {
    private let inFlight = Atomic<Int>(0)
    /// When the last start ended, in nanoseconds of the monotonic clock.
    private let lastEnd = Atomic<Int64>(0)

    /// A start begins.
    func begin() {
        inFlight.add(1, ordering: .relaxed)
    }

    /// A start ended (successfully or not).
    func end() {
        lastEnd.store(Int64(HTTPDate.monotonic() * 1e9), ordering: .relaxed)
        inFlight.subtract(1, ordering: .relaxed)
    }

    /// Whether a start runs now or the last one ended less than `quiet` seconds ago (a burst
    /// launches its next start right after one ends; a single instance is still starting up).
    func isBusy(quiet: Double) -> Bool {
        if inFlight.load(ordering: .relaxed) > 0 { return true }
        return Double(Int64(HTTPDate.monotonic() * 1e9) - lastEnd.load(ordering: .relaxed)) / 1e9 < quiet
    }
}
