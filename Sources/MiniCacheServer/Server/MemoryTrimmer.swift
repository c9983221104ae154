#if canImport(Glibc)
import Glibc
#endif
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
/// origins or stored objects (and once after), this service calls `malloc_trim(0)`, which returns the free pages of
/// every arena; an idle cache costs nothing, a busy one one trim per interval. Without glibc it
/// does nothing.
package struct MemoryTrimmer: Service {
    private let activity: @Sendable () -> Int
    private let interval: Duration

    /// - Parameters:
    ///   - context: the server whose fills are watched (bytes from origins, objects stored or not).
    ///   - interval: how often at most memory is trimmed.
    package init(context: ServerContext, interval: Duration = .seconds(1)) {
        let (stats, cache) = (context.stats, context.cache)
        self.activity = {
            let stored = cache.map { $0.statistics.stored + $0.statistics.notStored } ?? 0
            return stats.originBytes.load(ordering: .relaxed) &+ stored
        }
        self.interval = interval
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            var seen = self.activity()
            // Once more after the fills stop, for what their last commits freed.
            var trimAgain = false
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                let now = self.activity()
                if now != seen {
                    seen = now
                    trimAgain = true
                } else if trimAgain {
                    trimAgain = false
                } else {
                    continue
                }
                Self.trim()
            }
        }
    }

    /// Returns the free memory of every malloc arena to the system.
    package static func trim() {
        _ = mallocTrim?(0)
    }

    /// glibc's `malloc_trim`, looked up at run time (`<malloc.h>` is not in the C library's module).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()
}
