/// The free chunks of a volume's data area, as sorted, disjoint, non-adjacent runs.
struct FreeSpace {
    private(set) var runs: [Range<Int64>]

    /// The free runs of `area` once `used` chunk ranges are taken out.
    init(area: Range<Int64>, used: [Range<Int64>]) {
        var runs: [Range<Int64>] = []
        var cursor = area.lowerBound
        for u in used.sorted(by: { $0.lowerBound < $1.lowerBound }) where !u.isEmpty {
            if u.lowerBound > cursor { runs.append(cursor..<min(u.lowerBound, area.upperBound)) }
            cursor = max(cursor, u.upperBound)
        }
        if cursor < area.upperBound { runs.append(cursor..<area.upperBound) }
        self.runs = runs
    }

    var freeChunks: Int64 { runs.reduce(0) { $0 + Int64($1.count) } }
    var largestRun: Int64 { runs.map { Int64($0.count) }.max() ?? 0 }

    /// Takes `count` chunks by the given policy; nil if no run is large enough.
    mutating func allocate(_ count: Int64, policy: VolumeHeader.Allocator) -> Range<Int64>? {
        let index: Int?
        switch policy {
        case .firstFit:
            index = runs.firstIndex { $0.count >= count }
        case .bestFit:
            index = runs.indices.filter { runs[$0].count >= count }.min { runs[$0].count < runs[$1].count }
        }
        guard let i = index else { return nil }
        let run = runs[i]
        let taken = run.lowerBound..<(run.lowerBound + count)
        if taken.upperBound == run.upperBound {
            runs.remove(at: i)
        } else {
            runs[i] = taken.upperBound..<run.upperBound
        }
        return taken
    }

    /// Takes the largest run entirely (for content of unknown length); nil when the volume is full.
    mutating func allocateLargest() -> Range<Int64>? {
        guard let i = runs.indices.max(by: { runs[$0].count < runs[$1].count }) else { return nil }
        return runs.remove(at: i)
    }

    /// Gives chunks back, merging with neighbouring runs.
    mutating func release(_ r: Range<Int64>) {
        guard !r.isEmpty else { return }
        let i = runs.firstIndex { $0.lowerBound >= r.upperBound } ?? runs.count
        var merged = r
        var lo = i
        if lo > 0, runs[lo - 1].upperBound == merged.lowerBound {
            lo -= 1
            merged = runs[lo].lowerBound..<merged.upperBound
        }
        var hi = i
        if hi < runs.count, runs[hi].lowerBound == merged.upperBound {
            merged = merged.lowerBound..<runs[hi].upperBound
            hi += 1
        }
        runs.replaceSubrange(lo..<hi, with: [merged])
    }
}

extension FreeSpace {
    /// Marks a specific run as used (it must be free); false if part of it was not free.
    mutating func take(_ r: Range<Int64>) -> Bool {
        guard let i = runs.firstIndex(where: { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }) else { return false }
        let run = runs[i]
        var pieces: [Range<Int64>] = []
        if run.lowerBound < r.lowerBound { pieces.append(run.lowerBound..<r.lowerBound) }
        if r.upperBound < run.upperBound { pieces.append(r.upperBound..<run.upperBound) }
        runs.replaceSubrange(i...i, with: pieces)
        return true
    }
}
