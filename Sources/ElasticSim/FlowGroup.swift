/// The state of one group of flows (same path, same cap) that every rate change reads and
/// writes, kept in one record so that a change costs one cache miss per group instead of one
/// per field: at country scale a recomputation gives thousands of groups new rates.
struct FlowGroup {
    var rate: Double
    /// `min(cap, limit)`: what the allocation treats as the group's cap.
    var ceiling: Double
    /// A per-flow limit besides the cap, set from outside; infinite when none.
    var limit: Double
    /// Bytes carried by all flows of the group up to `updated`.
    var bytes = 0.0
    var updated = 0.0
    var count = 0
    /// The group's links: `linkStart..<linkEnd` in the network's flat link store.
    var linkStart: Int32
    var linkEnd: Int32
    /// The owner (source) of the group's path, -1 for none.
    var owner: Int32
    /// Listed in the network's changed groups.
    var changed = false
}
