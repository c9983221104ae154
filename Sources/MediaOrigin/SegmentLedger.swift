/// Which live segments the origin has served, to tell a first fetch from a repeated one (a cache
/// that fetched a segment it should already hold). Remembers only the retained window.
struct SegmentLedger: Sendable {
    struct Key: Hashable, Sendable {
        var channel: Int
        var variant: Int
        var sequence: Int
    }

    private var seen: Set<Key> = []
    private var oldest = 0
    /// Distinct segments served, and fetches of a segment served before.
    private(set) var distinct = 0
    private(set) var repeated = 0

    /// Records a fetch; `oldestRetained` is the oldest sequence still served.
    /// - Returns: whether the segment was served before (a repeated fetch).
    @discardableResult
    mutating func record(_ key: Key, oldestRetained: Int) -> Bool {
        if oldestRetained > oldest + 64 {
            seen = seen.filter { $0.sequence >= oldestRetained }
            oldest = oldestRetained
        }
        guard seen.insert(key).inserted else {
            repeated += 1
            return true
        }
        distinct += 1
        return false
    }
}
