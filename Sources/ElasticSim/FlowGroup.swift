/// The state of one group of flows (same path, same cap) that every rate change reads and
/// writes, kept in one record of 64 bytes so that a change costs one cache miss per group
/// instead of one per field: at country scale a recomputation gives thousands of groups new
/// rates.
struct FlowGroup {
    var rate: Double
    /// The per-flow demand cap the group was registered with. Kept in the record (not in an
    /// array of its own) so that a rate change that reads it costs no further cache miss.
    let cap: Double
    /// A per-flow limit besides the cap, set from outside; infinite when none.
    var limit: Double
    /// Bytes carried by all flows of the group up to `updated`.
    var bytes = 0.0
    /// Bytes carried by one flow of the group (at the group's rate) up to `updated`: a cohort of
    /// the group's viewers takes its service from it while no rate change visits the cohort.
    var service = 0.0
    var updated = 0.0
    private var flows: Int32 = 0
    /// The group's links: `linkStart..<linkEnd` in the network's flat link store.
    var linkStart: Int32
    /// The owner (source) of the group's path, -1 for none.
    var owner: Int32
    private var linkCount: UInt16
    /// Listed in the network's changed groups.
    var changed = false
    /// Held below its ceiling by the head link of a single-level component
    /// (``FlowNetwork``'s level shifts); meaningful while the group is active.
    var held = false

    init(rate: Double, cap: Double, limit: Double, linkStart: Int32, linkEnd: Int32, owner: Int32) {
        precondition(linkEnd - linkStart <= Int32(UInt16.max), "a path of more than 65,535 links")
        self.rate = rate
        self.cap = cap
        self.limit = limit
        self.linkStart = linkStart
        self.owner = owner
        self.linkCount = UInt16(linkEnd - linkStart)
    }

    /// `min(cap, limit)`: what the allocation treats as the group's cap.
    var ceiling: Double { Swift.min(cap, limit) }

    var count: Int {
        get { Int(flows) }
        set { flows = Int32(newValue) }
    }

    var linkEnd: Int32 { linkStart + Int32(linkCount) }

    /// Bound to a clock as a follower, not as a held group: a group bound to a clock either
    /// crosses its head or crosses no link (``FlowNetwork/setLimit(_:of:now:leader:)``).
    var follows: Bool { linkCount == 0 }
}
