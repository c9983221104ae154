import HeapModule

/// One max-min fair recomputation of a ``FlowNetwork`` over the part connected to its changed
/// links, with scratch storage kept across recomputations: a recomputation costs O(component)
/// and allocates only its heap of links once the buffers have grown.
///
/// The component is found breadth-first from the changed links, counting each link's flows on
/// the way; groups are then frozen in one pass, either the group with the smallest ceiling or
/// every group crossing the link with the smallest fair share, whichever level is lower. Fair
/// shares only grow as groups freeze (a group freezes at the lowest level), so a stale share in
/// the link heap is a lower bound and is refreshed only when it comes to the top.
struct ProgressiveFilling {
    /// Per link of the network while it is in the component: 16 bytes, so that the whole
    /// table of a country's links stays in the core's cache during a breadth-first pass.
    private struct LinkState {
        var remaining = 0.0
        var flows: Int32 = 0
        /// Active groups on the link not yet reached, -1 while the link itself is not reached: a
        /// link whose groups are all reached has nothing left to find, and its list is not read.
        var groupsLeft: Int32 = -1

        var reached: Bool { groupsLeft >= 0 }
    }

    private struct LinkShare: Comparable {
        var share: Double
        var link: Int32

        /// Ties by link id, so the order of extractions never depends on the heap's layout.
        static func < (a: LinkShare, b: LinkShare) -> Bool {
            a.share != b.share ? a.share < b.share : a.link < b.link
        }
    }

    /// The links of the last component, in the order they were reached.
    private(set) var links: [Int32] = []
    /// The groups of the last component in the order they froze, and their rates.
    private(set) var frozenGroups: [Int32] = []
    private(set) var frozenRates: [Double] = []
    /// The links that froze groups at their fair share, in the order they did, each with its
    /// share and its groups' range in ``frozenGroups``.
    private(set) var levels: [Level] = []

    /// One link that froze groups at its fair share.
    struct Level {
        var link: Int32
        var share: Double
        var groups: Range<Int>
    }

    private var linkState: [LinkState] = []
    /// Per link while freezing: its share in the heap may be out of date.
    private var stale: [Bool] = []
    /// Per group: 0 outside the component, 1 reached, 2 frozen.
    private var groupState: [UInt8] = []
    /// The groups of the component, in the order they were reached.
    private var reached: [Int32] = []
    /// Their ceilings, read while reaching them: the record's line that holds the ceiling is
    /// then loaded alongside the one holding the flow count, not missed again when ordering.
    private var reachedCeilings: [Double] = []
    private var order: [Int32] = []
    private var bucket: [UInt8] = []
    private var capValues: [Double] = []
    private var bucketRank: [Int] = []
    private var bucketStart: [Int] = []
    /// What the breadth-first pass read ahead, kept so that its loads are not optimised away.
    private var prefetchSink = 0

    /// Caps take few distinct values (the access link, the bitrate ladder, starved fills' rates):
    /// up to this many are bucketed, more fall back to a comparison sort.
    private static let maxBuckets = 64

    /// Recomputes the rates of every active group connected to `dirty` through active groups
    /// (a closed component: every active group on its links is in it).
    /// `linkGroupCount[l]` is `linkGroups[l].count`.
    mutating func run(
        dirty: [Int32], capacity: [Double], groups: AlignedArray<FlowGroup>, linkStore: [Int32], linkGroups: [[Int32]],
        linkGroupCount: [Int32]
    ) {
        if linkState.count < capacity.count {
            linkState += Array(repeating: LinkState(), count: capacity.count - linkState.count)
            stale += Array(repeating: false, count: capacity.count - stale.count)
        }
        if groupState.count < groups.count {
            groupState += Array(repeating: 0, count: groups.count - groupState.count)
        }
        links.removeAll(keepingCapacity: true)
        reached.removeAll(keepingCapacity: true)
        reachedCeilings.removeAll(keepingCapacity: true)
        frozenGroups.removeAll(keepingCapacity: true)
        frozenRates.removeAll(keepingCapacity: true)
        levels.removeAll(keepingCapacity: true)
        var linkState = self.linkState
        var groupState = self.groupState
        var stale = self.stale
        self.linkState = []
        self.groupState = []
        self.stale = []
        defer {
            self.linkState = linkState
            self.groupState = groupState
            self.stale = stale
        }
        linkState.withUnsafeMutableBufferPointer { link in
            groupState.withUnsafeMutableBufferPointer { state in
                stale.withUnsafeMutableBufferPointer { stale in
                    linkStore.withUnsafeBufferPointer { store in
                        groups.withUnsafeBufferPointer { groups in
                            linkGroupCount.withUnsafeBufferPointer { groupCount in
                                reach(
                                    dirty: dirty, link: link, state: state, store: store, capacity: capacity,
                                    groups: groups, linkGroups: linkGroups, groupCount: groupCount)
                            }
                            orderByCeiling(groups)
                            freeze(link: link, stale: stale, state: state, store: store, groups: groups, linkGroups: linkGroups)
                            for l in links {
                                link[Int(l)] = LinkState()
                                stale[Int(l)] = false
                            }
                            for g in reached { state[Int(g)] = 0 }
                        }
                    }
                }
            }
        }
    }

    /// The component breadth-first from the changed links; every reached link starts with its
    /// capacity and counts the flows of the reached groups crossing it. A link whose groups were
    /// all reached through other links is not read again (behind a saturated link near the
    /// origin, every group is reached from it, and the links below it have nothing to add).
    private mutating func reach(
        dirty: [Int32], link: UnsafeMutableBufferPointer<LinkState>, state: UnsafeMutableBufferPointer<UInt8>,
        store: UnsafeBufferPointer<Int32>, capacity: [Double], groups: UnsafeBufferPointer<FlowGroup>,
        linkGroups: [[Int32]], groupCount: UnsafeBufferPointer<Int32>
    ) {
        for l in dirty where !link[Int(l)].reached {
            link[Int(l)].groupsLeft = groupCount[Int(l)]
            link[Int(l)].remaining = capacity[Int(l)]
            links.append(l)
        }
        var head = 0
        var ahead = 0
        while head < links.count {
            // The group lists of the links further on in the queue, and their groups' records,
            // are cache misses: reading them now lets them overlap with this link's work.
            if head + 8 < links.count, link[Int(links[head + 8])].groupsLeft > 0 {
                ahead &+= linkGroups[Int(links[head + 8])].count
            }
            if head + 4 < links.count, link[Int(links[head + 4])].groupsLeft > 0, let g = linkGroups[Int(links[head + 4])].first {
                ahead &+= groups[Int(g)].count
            }
            let l = Int(links[head])
            head += 1
            guard link[l].groupsLeft > 0 else { continue }
            for g32 in linkGroups[l] {
                let gi = Int(g32)
                guard state[gi] == 0 else { continue }
                let n = groups[gi].count
                guard n > 0 else { continue }
                state[gi] = 1
                reached.append(g32)
                reachedCeilings.append(groups[gi].ceiling)
                for k in Int(groups[gi].linkStart)..<Int(groups[gi].linkEnd) {
                    let other = Int(store[k])
                    if !link[other].reached {
                        link[other].groupsLeft = groupCount[other]
                        link[other].remaining = capacity[other]
                        links.append(Int32(other))
                    }
                    link[other].groupsLeft -= 1
                    link[other].flows += Int32(n)
                }
                // The rest of the list was reached through other links.
                if link[l].groupsLeft == 0 { break }
            }
        }
        prefetchSink = ahead
    }

    /// `order`: the component's groups by ceiling, in the order reached within a ceiling (by
    /// group id when there are too many distinct ceilings to bucket).
    private mutating func orderByCeiling(_ groups: UnsafeBufferPointer<FlowGroup>) {
        capValues.removeAll(keepingCapacity: true)
        bucket.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        // Groups reached one after another often share a ceiling (a link's groups, a starved
        // link's fills): look at the last group's bucket first.
        var b = 0
        for cap in reachedCeilings {
            if b == capValues.count || capValues[b] != cap {
                b = 0
                while b < capValues.count && capValues[b] != cap { b += 1 }
            }
            if b == capValues.count {
                guard b < Self.maxBuckets else {
                    order = reached.sorted {
                        groups[Int($0)].ceiling != groups[Int($1)].ceiling ? groups[Int($0)].ceiling < groups[Int($1)].ceiling : $0 < $1
                    }
                    return
                }
                capValues.append(cap)
            }
            bucket.append(UInt8(b))
        }
        // The values are distinct: a bucket's place is the number of smaller values.
        bucketRank.removeAll(keepingCapacity: true)
        for v in capValues {
            var rank = 0
            for w in capValues where w < v { rank += 1 }
            bucketRank.append(rank)
        }
        bucketStart.removeAll(keepingCapacity: true)
        bucketStart.append(contentsOf: repeatElement(0, count: capValues.count + 1))
        for b in bucket { bucketStart[bucketRank[Int(b)] + 1] += 1 }
        for i in 1..<bucketStart.count { bucketStart[i] += bucketStart[i - 1] }
        order.append(contentsOf: repeatElement(0, count: reached.count))
        for (i, g) in reached.enumerated() {
            let rank = bucketRank[Int(bucket[i])]
            order[bucketStart[rank]] = g
            bucketStart[rank] += 1
        }
    }

    private mutating func freeze(
        link: UnsafeMutableBufferPointer<LinkState>, stale: UnsafeMutableBufferPointer<Bool>,
        state: UnsafeMutableBufferPointer<UInt8>,
        store: UnsafeBufferPointer<Int32>, groups: UnsafeBufferPointer<FlowGroup>, linkGroups: [[Int32]]
    ) {
        var heap = Heap(
            links.lazy.filter { link[Int($0)].flows > 0 }.map {
                LinkShare(share: link[Int($0)].remaining / Double(link[Int($0)].flows), link: $0)
            })
        var frozenGroups = self.frozenGroups
        var frozenRates = self.frozenRates
        self.frozenGroups = []
        self.frozenRates = []
        defer {
            self.frozenGroups = frozenGroups
            self.frozenRates = frozenRates
        }

        func freeze(_ gi: Int, at rate: Double) {
            state[gi] = 2
            frozenGroups.append(Int32(gi))
            frozenRates.append(rate)
            let n = groups[gi].count
            for k in Int(groups[gi].linkStart)..<Int(groups[gi].linkEnd) {
                let l = Int(store[k])
                link[l].remaining = Swift.max(0, link[l].remaining - Double(n) * rate)
                link[l].flows -= Int32(n)
                stale[l] = true
            }
        }

        let order = self.order
        var next = 0
        while true {
            while next < order.count && state[Int(order[next])] == 2 { next += 1 }
            if next == order.count { break }
            while let top = heap.min {
                let l = Int(top.link)
                let n = link[l].flows
                if n == 0 {
                    heap.removeMin()
                } else if stale[l] {
                    stale[l] = false
                    heap.replaceMin(with: LinkShare(share: link[l].remaining / Double(n), link: top.link))
                } else {
                    break
                }
            }
            let cap = groups[Int(order[next])].ceiling
            if let top = heap.min, top.share < cap {
                heap.removeMin()
                let start = frozenGroups.count
                for g32 in linkGroups[Int(top.link)] {
                    let gi = Int(g32)
                    if groups[gi].count > 0 && state[gi] != 2 { freeze(gi, at: top.share) }
                }
                levels.append(Level(link: top.link, share: top.share, groups: start..<frozenGroups.count))
            } else {
                freeze(Int(order[next]), at: cap)
            }
        }
    }
}
