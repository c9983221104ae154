/// The clock of a single-level component's head (``LevelCache``): the integrated share
/// `Φ(t) = ∫ level dt` of the link, and the groups that take their rate and service from it.
///
/// A group bound to the clock (one the head holds, or a linkless group whose limit is the rate
/// of one it holds) has the level as its rate and `service + Φ(now) − mark` as its service, so
/// that a shift of the level moves this record instead of every group behind the head. What
/// the clock cannot keep implicit it keeps here: the flows of each owner it binds (their served
/// rates move with the level) and the bound groups whose every rate change must be reported.
struct LinkClock {
    /// The head link, -1 while the clock is free.
    var head: Int32 = -1
    /// The rate of every bound flow.
    var level = 0.0
    /// `Φ` at `phiTime`.
    var phi = 0.0
    var phiTime = 0.0
    /// The bound groups (each knows its index here).
    var members: [Int32] = []
    /// Bound groups that were watched when listed (a rate change of theirs is reported); a
    /// listed group that is no longer watched or bound here leaves the list when it is read.
    var watchList: [Int32] = []
    /// The owners of the bound groups and their bound flows, and each owner's index in them.
    var owners: [Int32] = []
    var ownerFlows: [Int] = []
    var ownerSlot: [Int32: Int32] = [:]

    /// `Φ` at time `now` (not before `phiTime`).
    func phi(at now: Double) -> Double { phi + level * (now - phiTime) }
}
