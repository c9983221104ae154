/// How long the leader waits before it places again where instances keep failing to start (a
/// cache that exits before it is ready, crashes, or cannot be launched): without it a broken
/// site or tenant would be re-placed every round, forking a process and writing etcd each time.
///
/// The hold doubles with each failure in a row, from ``first`` to at most ``limit`` seconds; a
/// key with no failure for ``forgetAfter`` seconds starts over. Kept by the leader in memory (a
/// new leader starts with none, which costs at most one more try per key).
struct StartBackoff: Sendable {
    /// Seconds of the first hold. Default 0.5.
    var first: Double = 0.5
    /// The longest hold. Default 30.
    var limit: Double = 30
    /// Seconds without a failure after which a key starts over. Default 60.
    var forgetAfter: Double = 60

    private struct Entry {
        var failures: Int
        var last: Double
        var until: Double
    }

    private var entries: [DesiredKey: Entry] = [:]

    /// Records a failed start at `key` at `now`; returns how many failed in a row and the hold.
    mutating func failed(_ key: DesiredKey, now: Double) -> (failures: Int, hold: Double) {
        var entry = entries[key].flatMap { now - $0.last < forgetAfter ? $0 : nil } ?? Entry(failures: 0, last: now, until: now)
        entry.failures += 1
        entry.last = now
        let hold = min(limit, first * Double(1 << min(entry.failures - 1, 20)))
        entry.until = now + hold
        entries[key] = entry
        return (entry.failures, hold)
    }

    /// The keys on hold at `now` (forgotten entries are dropped).
    mutating func held(now: Double) -> Set<DesiredKey> {
        entries = entries.filter { now - $0.value.last < forgetAfter }
        return Set(entries.filter { $0.value.until > now }.keys)
    }
}
