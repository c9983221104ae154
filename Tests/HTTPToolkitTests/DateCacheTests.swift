#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import NIOCore
import NIOPosix
import Testing

struct DateCacheTests {
    /// The cache of one loop, used there only.
    private static func onLoop<T: Sendable>(_ loop: any EventLoop, _ cache: NIOLoopBound<DateCache>, _ body: @escaping @Sendable (DateCache) -> T) async throws -> T {
        try await loop.submit { body(cache.value) }.get()
    }

    /// The second of the clock the cache reads. `time()` reads a coarse clock that lags it by up
    /// to a scheduler tick, so at the turn of a second it can still say the one before.
    private static func realtimeSecond() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    /// The encodings of every second from `first` to `last`.
    private static func seconds(_ first: Int64, _ last: Int64, _ encode: (Int64) -> String) -> [String] {
        (first...last).map(encode)
    }

    @Test("an idle loop has nothing scheduled: the date is kept current only in seconds a response reads it")
    func idleLoopHasNoTimer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let cache = try await loop.submit {
            let cache = DateCache()
            cache.start(on: loop)
            return NIOLoopBound(cache, eventLoop: loop)
        }.get()
        #expect(try await Self.onLoop(loop, cache) { $0.isScheduled } == false)

        let before = Self.realtimeSecond()
        let (line, scheduled) = try await Self.onLoop(loop, cache) { cache in (String(buffer: cache.dateLine), cache.isScheduled) }
        let after = Self.realtimeSecond()
        #expect(scheduled)
        #expect(Self.seconds(before, after) { "Date: \(HTTPDate.format($0))\r\n" }.contains(line))

        // The task of the next second clears the flag and schedules nothing more (10 s is a safety
        // margin for a busy machine, not an expectation).
        let deadline = ContinuousClock.now + .seconds(10)
        while try await Self.onLoop(loop, cache, { $0.isScheduled }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await Self.onLoop(loop, cache) { $0.isScheduled } == false)

        // The next read catches up with the clock and schedules the next clearing again.
        let laterBefore = Self.realtimeSecond()
        let (prefix, again) = try await Self.onLoop(loop, cache) { cache in (String(buffer: cache.okPrefix), cache.isScheduled) }
        let laterAfter = Self.realtimeSecond()
        #expect(again)
        #expect(Self.seconds(laterBefore, laterAfter) { "HTTP/1.1 200 OK\r\nDate: \(HTTPDate.format($0))\r\n" }.contains(prefix))

        try await Self.onLoop(loop, cache) { $0.stop() }
        #expect(try await Self.onLoop(loop, cache) { $0.isScheduled } == false)
        try await group.shutdownGracefully()
    }

    @Test("without an event loop every read is of the current second")
    func withoutLoop() {
        let cache = DateCache()
        cache.refresh(now: 784_111_777)
        let before = Self.realtimeSecond()
        let date = cache.date
        let after = Self.realtimeSecond()
        #expect(Self.seconds(before, after) { HTTPDate.format($0) }.contains(date))
        #expect(!cache.isScheduled)
    }
}
