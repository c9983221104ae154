@testable import MiniCacheServer
import Synchronization
import Testing

struct MemoryTrimmerTests {
    /// Waits for `condition`; the limit is a safety margin for a busy machine, not an expectation.
    private static func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test("an idle trimmer waits for a signal instead of waking every interval; a burst of fills is trimmed once per interval and once after")
    func idleWaitsBusyTrims() async throws {
        let activity = Atomic<Int>(0)
        let trims = Atomic<Int>(0)
        let signal = ActivitySignal()
        let trimmer = MemoryTrimmer(
            activity: { activity.load(ordering: .relaxed) }, signal: signal, interval: .milliseconds(10),
            trim: { trims.add(1, ordering: .relaxed) })
        let running = Task { try await trimmer.run() }

        try await Self.eventually { signal.isWaiting }
        #expect(signal.isWaiting)
        #expect(trims.load(ordering: .relaxed) == 0)

        activity.add(1, ordering: .relaxed)
        signal.signal()
        // The interval with the fill, then one with none: two trims, then waiting again.
        try await Self.eventually { trims.load(ordering: .relaxed) >= 2 && signal.isWaiting }
        #expect(signal.isWaiting)
        #expect(trims.load(ordering: .relaxed) == 2)

        running.cancel()
        _ = await running.result
    }

    @Test("activity between the last look and the wait is not missed, even without a signal")
    func activityBeforeWait() async throws {
        let activity = Atomic<Int>(0)
        let trims = Atomic<Int>(0)
        let signal = ActivitySignal()
        let trimmer = MemoryTrimmer(
            activity: { activity.add(1, ordering: .relaxed).newValue }, signal: signal, interval: .milliseconds(10),
            trim: { trims.add(1, ordering: .relaxed) })
        // Every look sees a change, so the trimmer never waits: it keeps trimming once per interval.
        let running = Task { try await trimmer.run() }
        try await Self.eventually { trims.load(ordering: .relaxed) >= 3 }
        #expect(trims.load(ordering: .relaxed) >= 3)
        running.cancel()
        _ = await running.result
    }
}
