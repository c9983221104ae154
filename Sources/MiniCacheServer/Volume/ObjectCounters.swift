#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Per-object counters, kept across remounts (keyed by digest) and updated from any event loop.
///
/// Progress marks follow the original MiniCache: a transfer counts at 0 % when it starts and at
/// 20/40/60/80/100 % as its bytes are handed to the network. Responses written whole in one go
/// reach every mark at once and only bump one counter.
package final class ObjectCounters: Sendable {
    package let hits = Atomic<Int>(0)
    package let bytes = Atomic<Int>(0)
    /// When a response last started (``monotonicNow()``), for the cache's eviction: the store
    /// thread reads it when it looks for a victim, so a hit costs no lock.
    package let lastUse = Atomic<Int64>(0)
    private let wholeTransfers = Atomic<Int>(0)
    private let streamedCompletions = Atomic<Int>(0)
    private let mark0 = Atomic<Int>(0)
    private let mark1 = Atomic<Int>(0)
    private let mark2 = Atomic<Int>(0)
    private let mark3 = Atomic<Int>(0)
    private let mark4 = Atomic<Int>(0)
    private let mark5 = Atomic<Int>(0)

    package init() {}

    /// A response written whole: a hit, its bytes and a complete transfer.
    @inline(__always)
    package func recordWhole(bytes: Int) {
        self.hits.add(1, ordering: .relaxed)
        self.lastUse.store(Self.monotonicNow(), ordering: .relaxed)
        self.bytes.add(bytes, ordering: .relaxed)
        self.wholeTransfers.add(1, ordering: .relaxed)
    }

    /// A streamed transfer starts: a hit and the 0 % mark.
    package func recordStart() {
        self.hits.add(1, ordering: .relaxed)
        self.lastUse.store(Self.monotonicNow(), ordering: .relaxed)
        self.bump(0)
    }

    /// Nanoseconds of the monotonic clock (a vDSO read, no system call).
    @inline(__always)
    package static func monotonicNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
    }

    /// A streamed transfer of `total` bytes went from `before` to `after` bytes sent.
    package func recordProgress(before: Int64, after: Int64, total: Int64) {
        self.bytes.add(Int(after - before), ordering: .relaxed)
        guard total > 0 else { return }
        for mark in 1...5 where before * 5 < total * Int64(mark) && after * 5 >= total * Int64(mark) {
            self.bump(mark)
        }
    }

    /// A streamed transfer sent all its bytes.
    package func recordCompletion() {
        self.streamedCompletions.add(1, ordering: .relaxed)
    }

    /// Transfers that completed.
    package var completed: Int {
        self.wholeTransfers.load(ordering: .relaxed) + self.streamedCompletions.load(ordering: .relaxed)
    }

    /// Transfers that reached 0, 20, 40, 60, 80 and 100 %.
    package var progress: [Int] {
        let whole = self.wholeTransfers.load(ordering: .relaxed)
        return [
            self.mark0.load(ordering: .relaxed) + whole, self.mark1.load(ordering: .relaxed) + whole,
            self.mark2.load(ordering: .relaxed) + whole, self.mark3.load(ordering: .relaxed) + whole,
            self.mark4.load(ordering: .relaxed) + whole, self.mark5.load(ordering: .relaxed) + whole,
        ]
    }

    private func bump(_ mark: Int) {
        switch mark {
        case 0: self.mark0.add(1, ordering: .relaxed)
        case 1: self.mark1.add(1, ordering: .relaxed)
        case 2: self.mark2.add(1, ordering: .relaxed)
        case 3: self.mark3.add(1, ordering: .relaxed)
        case 4: self.mark4.add(1, ordering: .relaxed)
        default: self.mark5.add(1, ordering: .relaxed)
        }
    }
}
