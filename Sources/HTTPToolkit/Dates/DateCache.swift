#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The `Date` field and the most common status lines, encoded at most once a second, and only
/// in seconds in which a response asks for them.
///
/// One instance per event loop, used only on that loop: the hot path checks one flag and copies
/// ready bytes. The flag says the bytes are of the current second; the first read after it was
/// cleared reads the clock, re-encodes when the second changed, and schedules one task at the
/// start of the next second that clears the flag again. So a busy loop wakes once a second for
/// the date and an idle one never: a thousand idle caches on one host cost no wakeups.
///
/// The buffers every response reads are not checked for exclusive access at run time: only
/// ``refresh(now:)`` writes them, with plain assignments, so no access can overlap another.
package final class DateCache {
    @exclusivity(unchecked) private var okPrefixBytes: ByteBuffer
    @exclusivity(unchecked) private var dateLineBytes: ByteBuffer
    private var dateText: String
    private var currentSecond: Int64
    /// The bytes are of the current second (a task scheduled at the next one clears it). Always
    /// false without an event loop: every read then checks the clock.
    @exclusivity(unchecked) private var upToDate = false
    private var eventLoop: (any EventLoop)?
    private var tick: Scheduled<Void>?

    /// `HTTP/1.1 200 OK\r\nDate: …\r\n`
    package var okPrefix: ByteBuffer {
        if !self.upToDate { self.catchUp() }
        return self.okPrefixBytes
    }

    /// `Date: …\r\n`
    package var dateLine: ByteBuffer {
        if !self.upToDate { self.catchUp() }
        return self.dateLineBytes
    }

    /// The `Date` field's value (HTTP/2 sends fields, not lines).
    package var date: String {
        if !self.upToDate { self.catchUp() }
        return self.dateText
    }

    /// The Unix second the date is of.
    package var second: Int64 {
        if !self.upToDate { self.catchUp() }
        return self.currentSecond
    }

    /// Whether a task is scheduled to clear the bytes at the next second (only after a read, and
    /// only until the second after the last read).
    package var isScheduled: Bool { self.tick != nil }

    package init() {
        self.currentSecond = 0
        self.dateText = ""
        self.okPrefixBytes = ByteBuffer()
        self.dateLineBytes = ByteBuffer()
        self.refresh(now: Int64(time(nil)))
    }

    /// Re-encodes the date for `now` (Unix seconds) when it is another second.
    package func refresh(now: Int64) {
        guard now != self.currentSecond else { return }
        self.currentSecond = now
        let date = HTTPDate.format(now)
        self.dateText = date
        self.dateLineBytes = ByteBuffer(string: "Date: \(date)\r\n")
        self.okPrefixBytes = ByteBuffer(string: "HTTP/1.1 200 OK\r\nDate: \(date)\r\n")
    }

    /// Uses the cache on `eventLoop` from now on (it must only be used there). Nothing is
    /// scheduled until a response reads the date.
    package func start(on eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Cancels the task of the next second; later reads check the clock each time.
    package func stop() {
        self.tick?.cancel()
        self.tick = nil
        self.eventLoop = nil
        self.upToDate = false
    }

    /// Brings the bytes to the current second and, on an event loop, keeps them until the next.
    @inline(never)
    private func catchUp() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.refresh(now: Int64(now.tv_sec))
        guard let loop = self.eventLoop else { return }
        self.upToDate = true
        // Rounded up to the next millisecond: a clearing a little late keeps a date at most that
        // much old; one a little early just means the next read finds the same second.
        let untilNextSecond = (1_000_000_000 - Int64(now.tv_nsec)) / 1_000_000 + 1
        self.tick = loop.assumeIsolated().scheduleTask(in: .milliseconds(untilNextSecond)) {
            self.tick = nil
            self.upToDate = false
        }
    }
}

@available(*, unavailable)
extension DateCache: Sendable {}
