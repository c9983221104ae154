/// What the simulation keeps per flow group besides what ``FlowNetwork`` keeps: its kind and
/// slot, the fill whose starvation limits it and the groups a fill limits, and its cohorts. The
/// lists are threaded through the records (the next dependent in the dependent's record, the
/// neighbouring cohorts in the cohorts), not kept as an array per group: a recomputation that
/// gives thousands of fills new rates then reads one record per group instead of an array
/// header and its buffer, two cache misses.
struct GroupInfo {
    var kind: FlowKind = .viewer
    /// How many of its cohorts follow every rate change (the others are lazy: ``Cohort/lazy``).
    /// A group has at most one waiting and one playing cohort per rung.
    var eagerCohorts: UInt8 = 0
    /// The group's slot on its path (``Simulation/group(path:slot:)``).
    var slot: Int16 = 0
    /// The source of the group's path.
    var source: Int32 = -1
    /// The fill whose starvation limits this viewer group, -1 for none.
    var limiter: Int32 = -1
    /// The next group its limiter limits, -1 at the end of the list.
    var nextDependent: Int32 = -1
    /// The groups this fill limits, in the order they were added: the first and the last.
    var firstDependent: Int32 = -1
    var lastDependent: Int32 = -1
    /// The group's cohorts in the order they joined: the first and the last.
    var firstCohort: Int32 = -1
    var lastCohort: Int32 = -1
}
