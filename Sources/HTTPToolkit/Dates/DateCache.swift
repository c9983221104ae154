#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The `Date` field and the most common status lines, re-encoded once a second.
///
/// One instance per event loop, used only on that loop: the hot path copies ready bytes. The two
/// buffers every response reads are not checked for exclusive access at run time: only
/// ``refresh(now:)`` writes them, with plain assignments, so no access can overlap another.
package final class DateCache {
    /// `HTTP/1.1 200 OK\r\nDate: …\r\n`
    @exclusivity(unchecked) package private(set) var okPrefix: ByteBuffer
    /// `Date: …\r\n`
    @exclusivity(unchecked) package private(set) var dateLine: ByteBuffer
    /// The `Date` field's value (HTTP/2 sends fields, not lines).
    package private(set) var date: String
    package private(set) var second: Int64
    private var task: RepeatedTask?

    package init() {
        self.second = 0
        self.date = ""
        self.okPrefix = ByteBuffer()
        self.dateLine = ByteBuffer()
        self.refresh(now: Int64(time(nil)))
    }

    /// Current Unix time in seconds as of the last tick.
    package func refresh(now: Int64) {
        guard now != self.second else { return }
        self.second = now
        let date = HTTPDate.format(now)
        self.date = date
        self.dateLine = ByteBuffer(string: "Date: \(date)\r\n")
        self.okPrefix = ByteBuffer(string: "HTTP/1.1 200 OK\r\nDate: \(date)\r\n")
    }

    /// Starts the once-a-second refresh on `eventLoop`; the cache must only be used there.
    package func start(on eventLoop: any EventLoop) {
        let now = Int64(time(nil))
        self.refresh(now: now)
        let cache = NIOLoopBound(self, eventLoop: eventLoop)
        self.task = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(250)) { _ in
            cache.value.refresh(now: Int64(time(nil)))
        }
    }

    package func stop() {
        self.task?.cancel()
        self.task = nil
    }
}

@available(*, unavailable)
extension DateCache: Sendable {}
