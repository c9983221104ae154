/// The next event time of every cohort, in a binary heap indexed by cohort so that a cohort's
/// time can move up or down in O(log n) without leaving stale entries behind (cohort times
/// change at every rate change, far more often than anything else in the simulation).
///
/// Each heap entry carries its time, so sifting compares entries it has already read instead
/// of looking the times up by cohort (a cache miss per comparison in a large queue). The heap
/// is 4-ary: half the levels of a binary heap, and a node's children share a cache line.
struct CohortQueue {
    private struct Entry {
        var time: Double
        var cohort: Int32

        /// Ties by lowest cohort id: the order of events never depends on the heap's layout.
        @inline(__always)
        static func precedes(_ a: Entry, _ b: Entry) -> Bool {
            a.time != b.time ? a.time < b.time : a.cohort < b.cohort
        }
    }

    private var heap: [Entry] = []
    /// Position of each cohort in `heap`, -1 when absent.
    private var position: [Int32] = []

    var isEmpty: Bool { heap.isEmpty }

    /// The cohort with the earliest time (ties: lowest id).
    var min: (cohort: Int32, time: Double)? {
        heap.first.map { ($0.cohort, $0.time) }
    }

    /// Sets a cohort's time; `.infinity` removes it.
    mutating func set(_ c: Int32, _ t: Double) {
        let ci = Int(c)
        while position.count <= ci { position.append(-1) }
        let p = Int(position[ci])
        if !t.isFinite {
            if p >= 0 { remove(at: p) }
            return
        }
        if p < 0 {
            heap.append(Entry(time: t, cohort: c))
            up(heap.count - 1)
        } else {
            let old = heap[p].time
            heap[p].time = t
            if t < old { up(p) } else { down(p) }
        }
    }

    /// Moves the entry at `start` towards the root until its parent precedes it.
    private mutating func up(_ start: Int) {
        var i = start
        let entry = heap[i]
        while i > 0 {
            let parent = (i - 1) / 4
            guard Entry.precedes(entry, heap[parent]) else { break }
            heap[i] = heap[parent]
            position[Int(heap[i].cohort)] = Int32(i)
            i = parent
        }
        heap[i] = entry
        position[Int(entry.cohort)] = Int32(i)
    }

    /// Moves the entry at `start` towards the leaves until it precedes its children.
    private mutating func down(_ start: Int) {
        var i = start
        let entry = heap[i]
        let count = heap.count
        while true {
            let first = 4 * i + 1
            guard first < count else { break }
            var m = first
            for child in (first + 1)..<Swift.min(first + 4, count) where Entry.precedes(heap[child], heap[m]) { m = child }
            guard Entry.precedes(heap[m], entry) else { break }
            heap[i] = heap[m]
            position[Int(heap[i].cohort)] = Int32(i)
            i = m
        }
        heap[i] = entry
        position[Int(entry.cohort)] = Int32(i)
    }

    private mutating func remove(at p: Int) {
        let c = heap[p].cohort
        let last = heap.removeLast()
        position[Int(c)] = -1
        guard p < heap.count else { return }
        heap[p] = last
        position[Int(last.cohort)] = Int32(p)
        up(p)
        down(Int(position[Int(last.cohort)]))
    }
}
