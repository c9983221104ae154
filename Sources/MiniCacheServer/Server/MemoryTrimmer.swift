import CLinuxCalls
import ServiceLifecycle
import Synchronization

/// Gives the memory that fills freed back to the system.
///
/// A fill holds its body in buffers allocated on several threads (the origin connection's event
/// loop, the store thread); once stored they are freed, but glibc keeps the freed pages in its
/// per-thread arenas, between chunks still in use, where neither its automatic trim (only the
/// top of each heap) nor the next fills reliably reuse them. After 10,000 fills of 256 KiB a
/// process held about ten times the memory it needs after a restart, nearly all of it free
/// (`malloc_trim` gave it back). So once per interval in which the cache received bytes from
/// origins or stored objects (and once after), this service calls `malloc_trim(0)`, which returns
/// the free pages of every arena; a busy cache costs one trim per interval. An idle cache costs
/// nothing, not even a wakeup: between fills the service waits for the origin-activity signal
/// instead of looking every interval. Without glibc the trim does nothing.
package struct MemoryTrimmer: Service {
    private let activity: @Sendable () -> Int
    private let signal: ActivitySignal
    private let interval: Duration
    private let trim: @Sendable () -> Void

    /// - Parameters:
    ///   - context: the server whose fills are watched (bytes from origins, objects stored or not).
    ///   - interval: how often at most memory is trimmed.
    package init(context: ServerContext, interval: Duration = .seconds(1)) {
        let (stats, cache) = (context.stats, context.cache)
        self.init(
            activity: {
                let stored = cache.map { $0.statistics.stored + $0.statistics.notStored } ?? 0
                return stats.originBytes.load(ordering: .relaxed) &+ stored
            },
            signal: stats.originActivity,
            interval: interval
        )
    }

    /// - Parameters:
    ///   - activity: a count that changes when there may be memory to give back.
    ///   - signal: signalled when `activity` changes (a missed signal only delays a trim to the
    ///     next one).
    ///   - trim: gives memory back (default ``trim()``).
    package init(
        activity: @escaping @Sendable () -> Int,
        signal: ActivitySignal,
        interval: Duration = .seconds(1),
        trim: @escaping @Sendable () -> Void = { MemoryTrimmer.trim() }
    ) {
        self.activity = activity
        self.signal = signal
        self.interval = interval
        self.trim = trim
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            var seen = self.activity()
            while !Task.isCancelled {
                guard await self.signal.wait(unless: { self.activity() != seen }) else { return }
                // Once per interval with fills, then once more after the last, for what its
                // commit freed.
                var busy = true
                while busy, !Task.isCancelled {
                    try? await Task.sleep(for: self.interval)
                    let now = self.activity()
                    busy = now != seen
                    seen = now
                    self.trim()
                }
            }
        }
    }

    /// Returns the free memory of every malloc arena to the system.
    package static func trim() {
        _ = clinux_malloc_trim(0)
    }
}
