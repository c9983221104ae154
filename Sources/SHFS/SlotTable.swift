/// A writer's entries by hash-table slot, kept sparse: its memory follows the entries, not the
/// table (a default volume has 16,384 slots; a cache that just started uses a few of them).
struct SlotTable {
    /// Slots in the table.
    let count: Int
    private var bySlot: [Int: Entry] = [:]

    init(count: Int) {
        self.count = count
    }

    subscript(slot: Int) -> Entry? {
        get { self.bySlot[slot] }
        set { self.bySlot[slot] = newValue }
    }

    /// The slots of `range` (one bucket), empty ones as nil.
    subscript(range: Range<Int>) -> [Entry?] {
        range.map { self.bySlot[$0] }
    }

    /// Every entry, in slot order.
    var entries: [Entry] {
        self.bySlot.keys.sorted().map { self.bySlot[$0]! }
    }
}
