/// The next event time of every cohort, in a binary heap indexed by cohort so that a cohort's
/// time can move up or down in O(log n) without leaving stale entries behind (cohort times
/// change at every rate change, far more often than anything else in the simulation).
struct CohortQueue {
    private var heap: [Int32] = []
    private var time: [Double] = []
    /// Position of each cohort in `heap`, -1 when absent.
    private var position: [Int32] = []

    var isEmpty: Bool { heap.isEmpty }

    /// The cohort with the earliest time (ties: lowest id).
    var min: (cohort: Int32, time: Double)? {
        heap.first.map { ($0, time[Int($0)]) }
    }

    /// Sets a cohort's time; `.infinity` removes it.
    mutating func set(_ c: Int32, _ t: Double) {
        let ci = Int(c)
        while position.count <= ci {
            position.append(-1)
            time.append(.infinity)
        }
        let p = Int(position[ci])
        if !t.isFinite {
            if p >= 0 { remove(at: p) }
            time[ci] = .infinity
            return
        }
        let old = time[ci]
        time[ci] = t
        if p < 0 {
            heap.append(c)
            position[ci] = Int32(heap.count - 1)
            up(heap.count - 1)
        } else if t < old {
            up(p)
        } else {
            down(p)
        }
    }

    private func less(_ a: Int32, _ b: Int32) -> Bool {
        let ta = time[Int(a)], tb = time[Int(b)]
        return ta != tb ? ta < tb : a < b
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        heap.swapAt(i, j)
        position[Int(heap[i])] = Int32(i)
        position[Int(heap[j])] = Int32(j)
    }

    private mutating func up(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(heap[i], heap[parent]) else { break }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func down(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            guard l < heap.count else { break }
            var m = l
            if l + 1 < heap.count && less(heap[l + 1], heap[l]) { m = l + 1 }
            guard less(heap[m], heap[i]) else { break }
            swapAt(i, m)
            i = m
        }
    }

    private mutating func remove(at p: Int) {
        let c = heap[p]
        let last = heap.count - 1
        if p != last { swapAt(p, last) }
        heap.removeLast()
        position[Int(c)] = -1
        if p < heap.count {
            up(p)
            down(Int(position[Int(heap[p])]))
        }
    }
}
