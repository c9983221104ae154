/// An entry of the simulator's event queue (cohort crossings have their own indexed queue,
/// ``CohortQueue``). Entries are never removed early: an entry whose `version` no longer
/// matches its target's is skipped when it comes up (lazy invalidation).
struct Event: Comparable {
    enum Kind: UInt8 {
        case arrival, viewerEnd, instanceReady, instanceReview, sample, flowStart, backgroundEnd
    }
    var time: Double
    /// Insertion order, so that simultaneous events run in a fixed order.
    var sequence: UInt64
    var kind: Kind
    var target: Int32
    var version: UInt32

    static func < (a: Event, b: Event) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }
    static func == (a: Event, b: Event) -> Bool { a.sequence == b.sequence }
}

/// A viewer's threshold in a cohort's heap (see ``Cohort``).
struct CohortKey: Comparable {
    var key: Double
    var viewer: Int32
    var version: UInt32

    static func < (a: CohortKey, b: CohortKey) -> Bool {
        a.key != b.key ? a.key < b.key : a.viewer < b.viewer
    }
}
