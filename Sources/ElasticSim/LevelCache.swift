/// What ``FlowNetwork`` keeps of a component whose last recomputation froze every group either
/// at its ceiling or at the fair share of one link, its *head* (behind a saturated link near the
/// origin, the fills of every cache below it): a flow that joins or leaves a group crossing the
/// head then moves the head's level alone, which is computed from these figures instead of a
/// recomputation of the component, as long as the change keeps the component that simple.
///
/// The bounds are kept conservatively (a change only ever tightens them), so a change they do
/// not prove harmless falls back to a recomputation, which rebuilds the cache.
struct LevelCache {
    /// The link that holds the component's held groups.
    var head: Int32
    /// The rate of every flow the head holds.
    var level: Double
    /// The flows on the head that it does not hold, times their rates (each at its ceiling).
    var fixed: Double
    /// The highest ceiling among the groups on the head at their ceiling (an upper bound).
    var maxBelow: Double
    /// The lowest ceiling among the held groups (a lower bound).
    var minHeld: Double
    /// The lowest level of the head at which another link of the component would fill (a lower
    /// bound): a level up to it leaves every other link with spare capacity.
    var minFill: Double
    /// The component's links.
    var links: [Int32]

    /// Relative margin of every bound: a level that close to a ceiling or a link that close to
    /// full is left to a recomputation, so that a tie is decided as the recomputation decides it.
    static let margin = 1e-9
}
