/// Exact max-min fair bandwidth sharing with per-flow demand caps, kept up to date as flows come
/// and go.
///
/// Flows with the same path and the same cap always get the same rate, so the network works on
/// *groups* `(path, cap)` with a flow count. A change that cannot affect anybody else (a flow at
/// its cap on a path whose links all keep spare capacity) is applied in O(path length); any other
/// change marks the allocation dirty, and ``settle(now:)`` recomputes it by progressive filling
/// over the active groups (one pass, links ordered by fair share in a heap), reporting the groups
/// whose rate changed. Rates and capacities are in one unit (the simulator uses bytes per second).
/// Bytes carried by each group are integrated exactly between changes.
package struct FlowNetwork: Sendable {
    package private(set) var capacity: [Double] = []
    /// Sum of rates on each link (exact after ``settle(now:)``).
    package private(set) var load: [Double] = []
    /// Active groups (at least one flow) on each link.
    private var linkGroups: [[Int32]] = []
    /// For each group, its index in `linkGroups` of each link of its path (while active).
    private var groupSlots: [[Int32]] = []

    package private(set) var pathLinks: [[Int32]] = []
    /// Every path's links one after another, and each group's range in it: the hot loops read
    /// these instead of `pathLinks` (one flat array, no nested buffer to retain per visit).
    private var linkStore: [Int32] = []
    private var groupLinkStart: [Int32] = []
    private var groupLinkEnd: [Int32] = []
    private var pathLinkStart: [Int32] = []
    /// The owner each path was registered with (its source), -1 for none.
    private var pathOwner: [Int32] = []
    /// Sum of the rates of all flows on the paths of each owner (exact after ``settle(now:)``).
    package private(set) var ownerRate: [Double] = []
    private var ownerMark: [Bool] = []
    private var changedOwners: [Int32] = []
    private var pathIndex: [PathKey: Int32] = [:]

    package private(set) var groupPath: [Int32] = []
    package private(set) var groupCap: [Double] = []
    /// A per-flow limit besides the cap, set from outside (viewers of a cache whose fill is
    /// starved get no more than the fill); infinite when none.
    package private(set) var groupLimit: [Double] = []
    /// `min(cap, limit)`: what the allocation treats as the group's cap.
    private var ceiling: [Double] = []
    package private(set) var groupCount: [Int] = []
    package private(set) var groupRate: [Double] = []
    /// Bytes carried by all flows of a group up to ``groupUpdated``.
    package private(set) var groupBytes: [Double] = []
    private var groupUpdated: [Double] = []
    private var groupIndex: [GroupKey: Int32] = [:]

    private var dirty = false
    /// Links whose flows changed on the slow path since the last settle.
    private var dirtyLinks: [Int32] = []
    private var filling = ProgressiveFilling()
    /// Groups whose rate changed since the caller last cleared the list.
    package var changedGroups: [Int32] = []
    private var changedMark: [Bool] = []
    /// Full recomputations done (for the report).
    package private(set) var recomputations = 0

    private struct PathKey: Hashable {
        var links: [Int32]
        var owner: Int32
    }

    private struct GroupKey: Hashable {
        var path: Int32
        var cap: UInt64
        var tag: UInt8
    }

    package init() {}

    /// Adds a link and returns its id.
    package mutating func addLink(capacity c: Double) -> Int {
        capacity.append(c)
        load.append(0)
        linkGroups.append([])
        return capacity.count - 1
    }

    /// Changes a link's capacity (for example a cache instance that restarts with another size).
    package mutating func setCapacity(_ c: Double, of link: Int) {
        capacity[link] = c
        markDirty([Int32(link)])
    }

    /// The id of the path over these links (registered on first use). Paths over the same
    /// links with different `owner`s (for example two local caches, whose paths have no shared
    /// link) stay apart so that their bytes can be told apart.
    package mutating func path(_ links: [Int32], owner: Int32 = -1) -> Int32 {
        let key = PathKey(links: links, owner: owner)
        if let p = pathIndex[key] { return p }
        let p = Int32(pathLinks.count)
        pathLinks.append(links)
        pathLinkStart.append(Int32(linkStore.count))
        linkStore += links
        pathOwner.append(owner)
        if owner >= 0 && Int(owner) >= ownerRate.count {
            ownerRate += Array(repeating: 0, count: Int(owner) + 1 - ownerRate.count)
            ownerMark += Array(repeating: false, count: Int(owner) + 1 - ownerMark.count)
        }
        pathIndex[key] = p
        return p
    }

    /// The id of the group of flows on `path` capped at `cap` (registered on first use). Groups
    /// with different `tag`s share bandwidth like any others but count their bytes apart.
    package mutating func group(path: Int32, cap: Double, tag: UInt8 = 0) -> Int32 {
        let key = GroupKey(path: path, cap: cap.bitPattern, tag: tag)
        if let g = groupIndex[key] { return g }
        let g = Int32(groupPath.count)
        groupPath.append(path)
        groupLinkStart.append(pathLinkStart[Int(path)])
        groupLinkEnd.append(pathLinkStart[Int(path)] + Int32(pathLinks[Int(path)].count))
        groupCap.append(cap)
        groupLimit.append(.infinity)
        ceiling.append(cap)
        groupCount.append(0)
        groupRate.append(cap)
        groupBytes.append(0)
        groupUpdated.append(0)
        changedMark.append(false)
        groupIndex[key] = g
        groupSlots.append(Array(repeating: -1, count: pathLinks[Int(path)].count))
        return g
    }

    /// Adds `n` flows to a group at time `now`.
    package mutating func add(_ n: Int, to g: Int32, now: Double) {
        let gi = Int(g)
        flush(gi, now: now)
        if groupCount[gi] == 0 && n > 0 { activate(gi) }
        let links = pathLinks[Int(groupPath[gi])]
        if links.isEmpty {
            groupCount[gi] += n
            adjustOwner(gi, by: Double(n) * groupRate[gi])
            setRate(gi, ceiling[gi])
            return
        }
        if !dirty && (groupCount[gi] == 0 || groupRate[gi] == ceiling[gi]) {
            let extra = Double(n) * ceiling[gi]
            var fits = true
            for l in links where load[Int(l)] + extra > capacity[Int(l)] * (1 - 1e-12) {
                fits = false
                break
            }
            if fits {
                for l in links { load[Int(l)] += extra }
                groupCount[gi] += n
                adjustOwner(gi, by: Double(n) * groupRate[gi])
                setRate(gi, ceiling[gi])
                return
            }
        }
        groupCount[gi] += n
        adjustOwner(gi, by: Double(n) * groupRate[gi])
        markDirty(links)
    }

    /// Removes `n` flows from a group at time `now`.
    package mutating func remove(_ n: Int, from g: Int32, now: Double) {
        let gi = Int(g)
        flush(gi, now: now)
        precondition(groupCount[gi] >= n, "removing more flows than a group has")
        groupCount[gi] -= n
        adjustOwner(gi, by: -Double(n) * groupRate[gi])
        if groupCount[gi] == 0 && n > 0 { deactivate(gi) }
        let links = pathLinks[Int(groupPath[gi])]
        if links.isEmpty { return }
        if !dirty && groupRate[gi] == ceiling[gi] {
            var spare = true
            for l in links where load[Int(l)] >= capacity[Int(l)] * (1 - 1e-9) {
                spare = false
                break
            }
            if spare {
                let freed = Double(n) * groupRate[gi]
                for l in links { load[Int(l)] = Swift.max(0, load[Int(l)] - freed) }
                return
            }
        }
        markDirty(links)
    }

    /// Moves `n` flows from group `g` to group `target` on the same path at `now`. When the
    /// allocation is settled and `target` gets (or, idle, would get) `g`'s rate, the move
    /// changes no link's load and nobody's rate, so nothing is recomputed: flows held below
    /// their cap by a link move to a group with a cap at least as high on the same path, which
    /// that link holds at the same level (an idle `target` takes the rate and is reported as
    /// changed). Any other move is a removal and an addition.
    package mutating func transfer(_ n: Int, from g: Int32, to target: Int32, now: Double) {
        guard g != target else { return }
        let gi = Int(g)
        let ti = Int(target)
        precondition(groupPath[gi] == groupPath[ti], "a transfer stays on one path")
        let rate = groupRate[gi]
        // Below its ceiling a group is held by a link, which holds an idle group with a ceiling
        // at least as high at the same level; at its ceiling only an equal ceiling gets the same.
        let idleSame = rate < ceiling[gi] ? ceiling[ti] >= rate : ceiling[ti] == rate
        let sameRate = groupCount[ti] > 0 ? groupRate[ti] == rate : idleSame
        guard !dirty, n > 0, sameRate else {
            remove(n, from: g, now: now)
            add(n, to: target, now: now)
            return
        }
        flush(gi, now: now)
        flush(ti, now: now)
        precondition(groupCount[gi] >= n, "moving more flows than a group has")
        groupCount[gi] -= n
        if groupCount[gi] == 0 { deactivate(gi) }
        if groupCount[ti] == 0 {
            activate(ti)
            // Reported as changed: the caller checks whether the group gets less than its cap.
            setRate(ti, rate)
        }
        groupCount[ti] += n
    }

    /// Sets a group's per-flow limit at `now` (infinity: none). A group that crosses no link, or
    /// that is at its ceiling on links with spare capacity, gets its new rate at once; any other
    /// is reallocated at the next ``settle(now:)``.
    package mutating func setLimit(_ limit: Double, of g: Int32, now: Double) {
        let gi = Int(g)
        guard groupLimit[gi] != limit else { return }
        flush(gi, now: now)
        let previousCeiling = ceiling[gi]
        groupLimit[gi] = limit
        ceiling[gi] = Swift.min(groupCap[gi], limit)
        guard groupCount[gi] > 0 else {
            groupRate[gi] = ceiling[gi]
            return
        }
        let links = pathLinks[Int(groupPath[gi])]
        if links.isEmpty {
            setRate(gi, ceiling[gi])
            return
        }
        // A group at its old ceiling on links with spare capacity before and after the change
        // bottlenecks nobody: it moves to its new ceiling and nothing else changes.
        let old = groupRate[gi]
        if !dirty && old == previousCeiling && ceiling[gi].isFinite {
            let delta = Double(groupCount[gi]) * (ceiling[gi] - old)
            var local = true
            for l in links {
                let c = capacity[Int(l)]
                if load[Int(l)] >= c * (1 - 1e-9) || load[Int(l)] + delta > c * (1 - 1e-12) {
                    local = false
                    break
                }
            }
            if local {
                for l in links { load[Int(l)] = Swift.max(0, load[Int(l)] + delta) }
                setRate(gi, ceiling[gi])
                return
            }
        }
        markDirty(links)
    }

    private mutating func activate(_ gi: Int) {
        for (i, l) in pathLinks[Int(groupPath[gi])].enumerated() {
            groupSlots[gi][i] = Int32(linkGroups[Int(l)].count)
            linkGroups[Int(l)].append(Int32(gi))
        }
    }

    private mutating func deactivate(_ gi: Int) {
        for (i, l32) in pathLinks[Int(groupPath[gi])].enumerated() {
            let l = Int(l32)
            let slot = Int(groupSlots[gi][i])
            let last = linkGroups[l].removeLast()
            if Int(last) != gi {
                linkGroups[l][slot] = last
                let lastLinks = pathLinks[Int(groupPath[Int(last)])]
                let j = lastLinks.firstIndex(of: l32)!
                groupSlots[Int(last)][j] = Int32(slot)
            }
            groupSlots[gi][i] = -1
        }
    }

    private mutating func markDirty(_ links: [Int32]) {
        dirty = true
        dirtyLinks += links
    }

    /// Recomputes the max-min fair allocation if a change may have altered it.
    ///
    /// Only the part of the network connected to the changed links through active flows is
    /// recomputed: flows outside it share no link with it, so their rates cannot change.
    package mutating func settle(now: Double) {
        guard dirty else { return }
        dirty = false
        recomputations += 1
        filling.run(
            dirty: dirtyLinks, capacity: capacity, groupCount: groupCount, ceiling: ceiling, linkStore: linkStore,
            groupLinkStart: groupLinkStart, groupLinkEnd: groupLinkEnd, linkGroups: linkGroups)
        dirtyLinks.removeAll(keepingCapacity: true)
        for l in filling.links { load[Int(l)] = 0 }
        for (i, g) in filling.frozenGroups.enumerated() {
            let gi = Int(g)
            let rate = filling.frozenRates[i]
            // Rounding in a different freezing order must not count as a change: every change
            // reschedules the group's viewers.
            if abs(rate - groupRate[gi]) > 1e-12 * Swift.max(rate, groupRate[gi]) {
                flush(gi, now: now)
                setRate(gi, rate)
            }
            let total = Double(groupCount[gi]) * groupRate[gi]
            for k in Int(groupLinkStart[gi])..<Int(groupLinkEnd[gi]) { load[Int(linkStore[k])] += total }
        }
    }

    /// Brings a group's byte count up to `now`.
    package mutating func flush(_ gi: Int, now: Double) {
        let dt = now - groupUpdated[gi]
        if dt > 0 {
            groupBytes[gi] += groupRate[gi] * Double(groupCount[gi]) * dt
        }
        groupUpdated[gi] = now
    }

    private mutating func setRate(_ gi: Int, _ rate: Double) {
        guard groupRate[gi] != rate else { return }
        adjustOwner(gi, by: (rate - groupRate[gi]) * Double(groupCount[gi]))
        groupRate[gi] = rate
        if !changedMark[gi] {
            changedMark[gi] = true
            changedGroups.append(Int32(gi))
        }
    }

    private mutating func adjustOwner(_ gi: Int, by delta: Double) {
        let owner = pathOwner[Int(groupPath[gi])]
        guard owner >= 0, delta != 0 else { return }
        ownerRate[Int(owner)] += delta
        if !ownerMark[Int(owner)] {
            ownerMark[Int(owner)] = true
            changedOwners.append(owner)
        }
    }

    /// Takes the list of owners whose ``ownerRate`` changed.
    package mutating func takeChangedOwners() -> [Int32] {
        let list = changedOwners
        changedOwners.removeAll(keepingCapacity: true)
        for o in list { ownerMark[Int(o)] = false }
        return list
    }

    /// Takes the list of groups whose rate changed.
    package mutating func takeChangedGroups() -> [Int32] {
        let list = changedGroups
        changedGroups.removeAll(keepingCapacity: true)
        for g in list { changedMark[Int(g)] = false }
        return list
    }
}
