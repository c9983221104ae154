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
    /// Sum of rates on each link (exact after ``settle(now:)``); for a link of a single-level
    /// component, the sum of the rates of the flows its head does not hold (``load(_:)``).
    private var load: [Double] = []
    /// Active groups (at least one flow) on each link.
    private var linkGroups: [[Int32]] = []
    /// `linkGroups[l].count` in one flat array: the recomputation reads it for every link it
    /// reaches, where the list's own header would be a cache miss per link.
    private var linkGroupCount: [Int32] = []
    /// For each group, its index in `linkGroups` of each link of its path (while active).
    private var groupSlots: [[Int32]] = []

    package private(set) var pathLinks: [[Int32]] = []
    /// Every path's links one after another, and each group's range in it: the hot loops read
    /// these instead of `pathLinks` (one flat array, no nested buffer to retain per visit).
    private var linkStore: [Int32] = []
    private var pathLinkStart: [Int32] = []
    /// The owner each path was registered with (its source), -1 for none.
    private var pathOwner: [Int32] = []
    /// Sum of the rates of all flows on the paths of each owner (exact after ``settle(now:)``).
    package private(set) var ownerRate: [Double] = []
    private var ownerMark: [Bool] = []
    private var changedOwners: [Int32] = []
    private var pathIndex: [PathKey: Int32] = [:]

    /// Per group: the state every rate change reads and writes, in one record of a cache line.
    private var groups = AlignedArray<FlowGroup>()
    package private(set) var groupPath: [Int32] = []
    private var groupIndex: [GroupKey: Int32] = [:]

    private var dirty = false
    /// Links whose flows changed on the slow path since the last settle.
    private var dirtyLinks: [Int32] = []
    private var filling = ProgressiveFilling()
    /// Groups whose rate changed since the caller last cleared the list.
    package var changedGroups: [Int32] = []
    /// Full recomputations done (for the report).
    package private(set) var recomputations = 0
    /// Changes applied as a shift of one link's level instead of a recomputation.
    package private(set) var levelShifts = 0
    /// Recomputations that found the component held by the same link as before, whose clock
    /// then carried on.
    package private(set) var clockRevivals = 0
    /// Single-level components (``LevelCache``), and per link the one it belongs to (-1: none)
    /// and the flows of held groups crossing it.
    private var levelCaches: [LevelCache] = []
    private var freeLevelCaches: [Int32] = []
    private var cacheOf: [Int32] = []
    private var heldFlows: [Int32] = []
    /// The clock of each single-level component (same index as ``levelCaches``), and per group
    /// the clock it is bound to (-1: none), `Φ` when its service was last brought up to date, its
    /// index in the clock's members, whether its rate changes are reported while it is bound
    /// (``setWatched(_:_:)``), whether it is in its clock's watch list, and whether some group
    /// follows its rate (``setLimit(_:of:now:following:)``).
    private var clocks: [LinkClock] = []
    private var clockOf: [Int32] = []
    private var phiMark: [Double] = []
    private var clockSlot: [Int32] = []
    private var watched: [Bool] = []
    private var listed: [Bool] = []
    private var leads: [Bool] = []
    /// Per group: the group whose rate it follows (-1: none), and the last recomputation that
    /// found it held by a revived clock (``buildLevelCache(_:clock:now:)``).
    private var leaderOf: [Int32] = []
    private var heldStamp: [Int] = []
    /// Scratch lists of a recomputation: the groups it found held that are not bound to the
    /// clock that carries on, and the clocks of the components it recomputed.
    private var heldScratch: [Int32] = []
    private var retiredClocks: [Int32] = []

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
        linkGroupCount.append(0)
        cacheOf.append(-1)
        heldFlows.append(0)
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
        let g = Int32(groups.count)
        let start = pathLinkStart[Int(path)]
        groups.append(FlowGroup(
            rate: cap, cap: cap, limit: .infinity, linkStart: start,
            linkEnd: start + Int32(pathLinks[Int(path)].count), owner: pathOwner[Int(path)]))
        groupPath.append(path)
        groupIndex[key] = g
        groupSlots.append(Array(repeating: -1, count: pathLinks[Int(path)].count))
        clockOf.append(-1)
        phiMark.append(0)
        clockSlot.append(-1)
        watched.append(false)
        listed.append(false)
        leads.append(false)
        leaderOf.append(-1)
        heldStamp.append(0)
        return g
    }

    // MARK: Reading groups

    /// The number of groups registered.
    package var groupCount: Int { groups.count }

    /// The per-flow rate of group `g`.
    package func rate(_ g: Int32) -> Double {
        let c = clockOf[Int(g)]
        return c >= 0 ? clocks[Int(c)].level : groups[Int(g)].rate
    }

    /// The flows in group `g`.
    package func flows(_ g: Int32) -> Int { groups[Int(g)].count }

    /// The per-flow demand cap group `g` was registered with.
    package func cap(_ g: Int32) -> Double { groups[Int(g)].cap }

    /// The per-flow limit of group `g` set with ``setLimit(_:of:now:)`` (infinity: none).
    package func limit(_ g: Int32) -> Double {
        let c = clockOf[Int(g)]
        return c >= 0 && groups[Int(g)].follows ? clocks[Int(c)].level : groups[Int(g)].limit
    }

    /// The clock group `g` takes its rate and service from (-1: none): a single-level
    /// component's head that holds it, or that holds the group whose rate limits it.
    package func clock(_ g: Int32) -> Int32 { clockOf[Int(g)] }

    /// Bytes carried by one flow of group `g` (at the group's rate) up to `now`, not before the
    /// group's last change: differences of it are what a flow of the group received.
    package func service(_ g: Int32, at now: Double) -> Double {
        let group = groups[Int(g)]
        let c = clockOf[Int(g)]
        if c >= 0 { return group.service + clocks[Int(c)].phi(at: now) - phiMark[Int(g)] }
        return group.service + group.rate * (now - group.updated)
    }

    /// The load of link `l` (the sum of its flows' rates).
    package func load(_ l: Int) -> Double {
        let c = cacheOf[l]
        return c >= 0 ? load[l] + Double(heldFlows[l]) * clocks[Int(c)].level : load[l]
    }

    /// Whether every rate change of group `g` is reported in ``changedGroups`` (the default is
    /// no): a group bound to a clock moves with it unreported unless it is watched.
    package mutating func setWatched(_ g: Int32, _ on: Bool) {
        let gi = Int(g)
        guard watched[gi] != on else { return }
        watched[gi] = on
        if on { listIfWatched(gi) }
    }

    /// Bytes carried by all flows of group `g` up to its last ``flush(_:now:)``.
    package func bytes(_ g: Int32) -> Double { groups[Int(g)].bytes }

    /// The links of group `g`'s path.
    package func links(_ g: Int32) -> ArraySlice<Int32> {
        linkStore[Int(groups[Int(g)].linkStart)..<Int(groups[Int(g)].linkEnd)]
    }

    // MARK: Changes

    /// Adds `n` flows to a group at time `now`.
    package mutating func add(_ n: Int, to g: Int32, now: Double) {
        let gi = Int(g)
        flush(gi, now: now)
        if groups[gi].count == 0 && n > 0 { activate(gi) }
        let (start, end) = (Int(groups[gi].linkStart), Int(groups[gi].linkEnd))
        if start == end {
            changeCount(gi, by: n)
            adjustOwner(gi, by: Double(n) * groups[gi].rate)
            setRate(gi, groups[gi].ceiling)
            return
        }
        if !dirty && (groups[gi].count == 0 || groups[gi].rate == groups[gi].ceiling) {
            let extra = Double(n) * groups[gi].ceiling
            var fits = true
            for k in start..<end where load(Int(linkStore[k])) + extra > capacity[Int(linkStore[k])] * (1 - 1e-12) {
                fits = false
                break
            }
            if fits {
                dropLevelCaches(on: start..<end, now: now)
                for k in start..<end { load[Int(linkStore[k])] += extra }
                changeCount(gi, by: n)
                adjustOwner(gi, by: Double(n) * groups[gi].rate)
                setRate(gi, groups[gi].ceiling)
                return
            }
        }
        let before = groups[gi].count
        changeCount(gi, by: n)
        adjustOwner(gi, by: Double(n) * groups[gi].rate)
        if !dirty && shiftLevel(gi, before: before, now: now) { return }
        markDirty(start..<end)
    }

    /// Removes `n` flows from a group at time `now`.
    package mutating func remove(_ n: Int, from g: Int32, now: Double) {
        let gi = Int(g)
        flush(gi, now: now)
        precondition(groups[gi].count >= n, "removing more flows than a group has")
        let before = groups[gi].count
        changeCount(gi, by: -n)
        adjustOwner(gi, by: -Double(n) * groups[gi].rate)
        if groups[gi].count == 0 && n > 0 { deactivate(gi) }
        let (start, end) = (Int(groups[gi].linkStart), Int(groups[gi].linkEnd))
        if start == end { return }
        if !dirty && groups[gi].rate == groups[gi].ceiling {
            var spare = true
            for k in start..<end where load(Int(linkStore[k])) >= capacity[Int(linkStore[k])] * (1 - 1e-9) {
                spare = false
                break
            }
            if spare {
                dropLevelCaches(on: start..<end, now: now)
                let freed = Double(n) * groups[gi].rate
                for k in start..<end {
                    let l = Int(linkStore[k])
                    load[l] = Swift.max(0, load[l] - freed)
                }
                return
            }
        }
        if !dirty && shiftLevel(gi, before: before, now: now) { return }
        markDirty(start..<end)
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
        flush(gi, now: now)
        flush(ti, now: now)
        let rate = groups[gi].rate
        // Below its ceiling a group is held by a link, which holds an idle group with a ceiling
        // at least as high at the same level; at its ceiling only an equal ceiling gets the same.
        let idleSame = rate < groups[gi].ceiling ? groups[ti].ceiling >= rate : groups[ti].ceiling == rate
        let sameRate = groups[ti].count > 0 ? groups[ti].rate == rate : idleSame
        guard !dirty, n > 0, sameRate else {
            remove(n, from: g, now: now)
            add(n, to: target, now: now)
            return
        }
        dropLevelCaches(on: Int(groups[gi].linkStart)..<Int(groups[gi].linkEnd), now: now)
        precondition(groups[gi].count >= n, "moving more flows than a group has")
        changeCount(gi, by: -n)
        if groups[gi].count == 0 { deactivate(gi) }
        if groups[ti].count == 0 {
            activate(ti)
            // Reported as changed: the caller checks whether the group gets less than its cap.
            setRate(ti, rate)
        }
        changeCount(ti, by: n)
    }

    /// Sets a group's per-flow limit at `now` (infinity: none). A group that crosses no link, or
    /// that is at its ceiling on links with spare capacity, gets its new rate at once; any other
    /// is reallocated at the next ``settle(now:)``.
    ///
    /// `leader` is the group whose rate the limit is (-1: none). A group that crosses no link,
    /// with a cap not below the leader's, whose leader a single-level component's head holds,
    /// binds to that head's clock: its limit and rate follow the leader's from then on without
    /// further calls, until a call with another limit or leader, or until the leader leaves the
    /// clock, which reports the leader as changed.
    package mutating func setLimit(_ limit: Double, of g: Int32, now: Double, leader: Int32 = -1) {
        let gi = Int(g)
        if leader >= 0 {
            let fi = Int(leader)
            leads[fi] = true
            let c = clockOf[fi]
            if c >= 0, groups[fi].held, groups[gi].linkStart == groups[gi].linkEnd, groups[gi].cap >= groups[fi].cap,
                limit == clocks[Int(c)].level
            {
                guard clockOf[gi] != c else { return }
                if clockOf[gi] >= 0 { unbind(gi, now: now) } else { flush(gi, now: now) }
                groups[gi].limit = limit
                if groups[gi].count > 0 { setRate(gi, groups[gi].ceiling) } else { groups[gi].rate = groups[gi].ceiling }
                leaderOf[gi] = leader
                bind(gi, to: c, now: now)
                return
            }
        }
        if clockOf[gi] >= 0 && groups[gi].follows { unbind(gi, now: now) }
        guard groups[gi].limit != limit else { return }
        flush(gi, now: now)
        let previousCeiling = groups[gi].ceiling
        groups[gi].limit = limit
        guard groups[gi].count > 0 else {
            groups[gi].rate = groups[gi].ceiling
            return
        }
        let (start, end) = (Int(groups[gi].linkStart), Int(groups[gi].linkEnd))
        if start == end {
            setRate(gi, groups[gi].ceiling)
            return
        }
        // A group at its old ceiling on links with spare capacity before and after the change
        // bottlenecks nobody: it moves to its new ceiling and nothing else changes.
        let old = groups[gi].rate
        if !dirty && old == previousCeiling && groups[gi].ceiling.isFinite {
            let delta = Double(groups[gi].count) * (groups[gi].ceiling - old)
            var local = true
            for k in start..<end {
                let l = Int(linkStore[k])
                let c = capacity[l]
                let current = load(l)
                if current >= c * (1 - 1e-9) || current + delta > c * (1 - 1e-12) {
                    local = false
                    break
                }
            }
            if local {
                dropLevelCaches(on: start..<end, now: now)
                for k in start..<end {
                    let l = Int(linkStore[k])
                    load[l] = Swift.max(0, load[l] + delta)
                }
                setRate(gi, groups[gi].ceiling)
                return
            }
        }
        markDirty(start..<end)
    }

    private mutating func activate(_ gi: Int) {
        for (i, l) in pathLinks[Int(groupPath[gi])].enumerated() {
            groupSlots[gi][i] = Int32(linkGroups[Int(l)].count)
            linkGroups[Int(l)].append(Int32(gi))
            linkGroupCount[Int(l)] += 1
        }
    }

    private mutating func deactivate(_ gi: Int) {
        for (i, l32) in pathLinks[Int(groupPath[gi])].enumerated() {
            let l = Int(l32)
            let slot = Int(groupSlots[gi][i])
            let last = linkGroups[l].removeLast()
            linkGroupCount[l] -= 1
            if Int(last) != gi {
                linkGroups[l][slot] = last
                let lastLinks = pathLinks[Int(groupPath[Int(last)])]
                let j = lastLinks.firstIndex(of: l32)!
                groupSlots[Int(last)][j] = Int32(slot)
            }
            groupSlots[gi][i] = -1
        }
    }

    private mutating func markDirty(_ range: Range<Int>) {
        dirty = true
        dirtyLinks += linkStore[range]
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
            dirty: dirtyLinks, capacity: capacity, groups: groups, linkStore: linkStore, linkGroups: linkGroups,
            linkGroupCount: linkGroupCount)
        dirtyLinks.removeAll(keepingCapacity: true)
        retiredClocks.removeAll(keepingCapacity: true)
        for l in filling.links {
            let c = cacheOf[Int(l)]
            if c >= 0 {
                retireLevelCache(c)
                retiredClocks.append(c)
            }
            load[Int(l)] = 0
        }
        // A component held by one link only: what a later change needs to shift its level.
        let single = filling.levels.count == 1 ? filling.levels[0] : nil
        let head = single.map { Int($0.link) } ?? -1
        // The clock of the same head carries on: the groups it still holds and their followers
        // stay bound, and it moves to the new level.
        let revived = single == nil ? -1 : retiredClocks.first { clocks[Int($0)].head == head } ?? -1
        var fixed = 0.0
        var maxBelow = 0.0
        var minHeld = Double.infinity
        for (i, g) in filling.frozenGroups.enumerated() {
            let gi = Int(g)
            let rate = filling.frozenRates[i]
            let held = single?.groups.contains(i) ?? false
            if held && revived >= 0 && clockOf[gi] == revived {
                heldStamp[gi] = recomputations
            } else {
                if clockOf[gi] >= 0 { unbind(gi, now: now) }
                // Rounding in a different freezing order must not count as a change: every change
                // reschedules the group's viewers.
                if abs(rate - groups[gi].rate) > 1e-12 * Swift.max(rate, groups[gi].rate) {
                    flush(gi, now: now)
                    setRate(gi, rate)
                }
                if held { heldScratch.append(g) }
            }
            groups[gi].held = held
            let n = groups[gi].count
            if held { minHeld = Swift.min(minHeld, groups[gi].ceiling) }
            let total = Double(n) * groups[gi].rate
            for k in Int(groups[gi].linkStart)..<Int(groups[gi].linkEnd) {
                let l = Int(linkStore[k])
                if held {
                    heldFlows[l] += Int32(n)
                } else {
                    load[l] += total
                    if l == head {
                        fixed += total
                        maxBelow = Swift.max(maxBelow, groups[gi].ceiling)
                    }
                }
            }
        }
        for c in retiredClocks where c != revived { releaseClock(c, now: now) }
        if let single {
            buildLevelCache(
                LevelCache(
                    head: single.link, level: single.share, fixed: fixed, maxBelow: maxBelow, minHeld: minHeld,
                    minFill: .infinity, links: filling.links),
                clock: revived, now: now)
        }
        heldScratch.removeAll(keepingCapacity: true)
    }

    // MARK: Level shifts

    /// Registers the component the last recomputation found held by one link (the links' loads
    /// count the flows it does not hold), and binds the groups it holds to its clock: `clock`,
    /// the retired clock of the same head, keeps the groups it bound that the recomputation
    /// found held (``heldStamp``) and their followers and moves to the new level; the others
    /// (``heldScratch``) bind anew.
    private mutating func buildLevelCache(_ built: LevelCache, clock: Int32, now: Double) {
        var cache = built
        let margin = LevelCache.margin
        for l32 in cache.links where l32 != cache.head && heldFlows[Int(l32)] > 0 {
            let l = Int(l32)
            let current = load[l] + Double(heldFlows[l]) * cache.level
            cache.minFill = Swift.min(cache.minFill, cache.level + (capacity[l] * (1 - margin) - current) / Double(heldFlows[l]))
        }
        let c: Int32
        if clock >= 0 {
            clockRevivals += 1
            c = clock
            levelCaches[Int(c)] = cache
            let ci = Int(c)
            var i = 0
            while i < clocks[ci].members.count {
                let g = Int(clocks[ci].members[i])
                let kept = groups[g].follows ? heldStamp[Int(leaderOf[g])] == recomputations : heldStamp[g] == recomputations
                if kept {
                    i += 1
                } else {
                    unbind(g, now: now)
                }
            }
            moveClock(c, to: cache.level, now: now)
        } else {
            if let free = freeLevelCaches.popLast() {
                c = free
                levelCaches[Int(c)] = cache
            } else {
                c = Int32(levelCaches.count)
                levelCaches.append(cache)
                clocks.append(LinkClock())
            }
            clocks[Int(c)].level = cache.level
            clocks[Int(c)].phi = 0
            clocks[Int(c)].phiTime = now
            clocks[Int(c)].head = cache.head
        }
        for l in cache.links { cacheOf[Int(l)] = c }
        for g in heldScratch {
            let gi = Int(g)
            flush(gi, now: now)
            setRate(gi, cache.level)
            bind(gi, to: c, now: now)
        }
    }

    /// Detaches single-level component `c` from its links (their loads become values again)
    /// and leaves its clock retired: its bound groups keep the last level until the clock is
    /// released or carries on (``buildLevelCache(_:clock:now:)``).
    private mutating func retireLevelCache(_ c: Int32) {
        let ci = Int(c)
        let level = clocks[ci].level
        for l in levelCaches[ci].links {
            load[Int(l)] = Swift.max(0, load[Int(l)] + Double(heldFlows[Int(l)]) * level)
            cacheOf[Int(l)] = -1
            heldFlows[Int(l)] = 0
        }
        levelCaches[ci].links = []
    }

    /// Releases every group bound to retired clock `c` (their rates, services and bytes become
    /// values again) and frees it.
    private mutating func releaseClock(_ c: Int32, now: Double) {
        let ci = Int(c)
        var members: [Int32] = []
        swap(&members, &clocks[ci].members)
        for g in members {
            flush(Int(g), now: now)
            clockOf[Int(g)] = -1
            clockSlot[Int(g)] = -1
        }
        members.removeAll(keepingCapacity: true)
        swap(&members, &clocks[ci].members)
        for g in clocks[ci].watchList where clockOf[Int(g)] < 0 { listed[Int(g)] = false }
        clocks[ci].watchList.removeAll(keepingCapacity: true)
        clocks[ci].owners.removeAll(keepingCapacity: true)
        clocks[ci].ownerFlows.removeAll(keepingCapacity: true)
        clocks[ci].ownerSlot.removeAll(keepingCapacity: true)
        clocks[ci].head = -1
        freeLevelCaches.append(c)
    }

    /// Forgets single-level component `c` (a change it does not describe touched it): its links'
    /// loads and its bound groups' rates, services and bytes become values again.
    private mutating func dropLevelCache(_ c: Int32, now: Double) {
        retireLevelCache(c)
        releaseClock(c, now: now)
    }

    // MARK: Clocks

    /// Binds group `gi` (brought up to `now`, its rate the clock's level) to clock `c`; a group
    /// that others follow is reported as changed, so that its followers bind too.
    private mutating func bind(_ gi: Int, to c: Int32, now: Double) {
        let ci = Int(c)
        clockOf[gi] = c
        phiMark[gi] = clocks[ci].phi(at: now)
        clockSlot[gi] = Int32(clocks[ci].members.count)
        clocks[ci].members.append(Int32(gi))
        addOwnerFlows(gi, groups[gi].count)
        listIfWatched(gi)
        if leads[gi] { markChanged(gi) }
    }

    /// Brings group `gi` up to `now` at its clock and releases it; a group that others follow
    /// is reported as changed, so that they are released too.
    private mutating func unbind(_ gi: Int, now: Double) {
        let ci = Int(clockOf[gi])
        flush(gi, now: now)
        addOwnerFlows(gi, -groups[gi].count)
        let slot = Int(clockSlot[gi])
        let last = clocks[ci].members.removeLast()
        if Int(last) != gi {
            clocks[ci].members[slot] = last
            clockSlot[Int(last)] = Int32(slot)
        }
        clockOf[gi] = -1
        clockSlot[gi] = -1
        listed[gi] = false
        if leads[gi] { markChanged(gi) }
    }

    /// Puts a bound, watched group in its clock's watch list unless it is there.
    private mutating func listIfWatched(_ gi: Int) {
        let c = clockOf[gi]
        guard c >= 0, watched[gi], !listed[gi] else { return }
        listed[gi] = true
        clocks[Int(c)].watchList.append(Int32(gi))
    }

    /// Counts `n` more flows of bound group `gi` in its clock's flows of the group's owner.
    private mutating func addOwnerFlows(_ gi: Int, _ n: Int) {
        let owner = groups[gi].owner
        let c = Int(clockOf[gi])
        guard owner >= 0, n != 0, c >= 0 else { return }
        if let slot = clocks[c].ownerSlot[owner] {
            clocks[c].ownerFlows[Int(slot)] += n
        } else {
            clocks[c].ownerSlot[owner] = Int32(clocks[c].owners.count)
            clocks[c].owners.append(owner)
            clocks[c].ownerFlows.append(n)
        }
    }

    /// Changes group `gi`'s flow count by `n`, and its clock's count of its owner's flows.
    private mutating func changeCount(_ gi: Int, by n: Int) {
        groups[gi].count += n
        if clockOf[gi] >= 0 { addOwnerFlows(gi, n) }
    }

    /// Moves clock `c` to `level` at `now`: the owners of its flows get their new rates, and
    /// its watched groups are reported as changed (by the rule of a recomputation: not for a
    /// change within rounding).
    private mutating func moveClock(_ c: Int32, to level: Double, now: Double) {
        let ci = Int(c)
        let old = clocks[ci].level
        clocks[ci].phi = clocks[ci].phi(at: now)
        clocks[ci].phiTime = now
        clocks[ci].level = level
        let delta = level - old
        guard delta != 0 else { return }
        for i in clocks[ci].owners.indices {
            let n = clocks[ci].ownerFlows[i]
            if n != 0 { adjustOwnerRate(clocks[ci].owners[i], by: Double(n) * delta) }
        }
        guard abs(delta) > 1e-12 * Swift.max(level, old) else { return }
        var i = 0
        while i < clocks[ci].watchList.count {
            let g = Int(clocks[ci].watchList[i])
            if clockOf[g] == c && watched[g] {
                markChanged(g)
                i += 1
                continue
            }
            if clockOf[g] == c { listed[g] = false }
            let last = clocks[ci].watchList.removeLast()
            if i < clocks[ci].watchList.count { clocks[ci].watchList[i] = last }
        }
    }

    /// Forgets the single-level components that links `linkStore[range]` belong to.
    private mutating func dropLevelCaches(on range: Range<Int>, now: Double) {
        for k in range {
            let c = cacheOf[Int(linkStore[k])]
            if c >= 0 { dropLevelCache(c, now: now) }
        }
    }

    /// Applies a change of group `gi`'s flow count (from `before` to its count now; the group is
    /// flushed, (de)activated and its owner's rate adjusted at its old rate) as a shift of the
    /// level of a single-level component's head, when the group crosses the head and the new
    /// level keeps the component as it was: every held group still below its ceiling, every
    /// group at its ceiling on the head below the level, every other link with spare capacity.
    /// Returns false, changing nothing, when it cannot prove that, and the caller recomputes.
    ///
    /// The held groups are bound to the head's clock (``LinkClock``): they take the new level
    /// with it, in O(1) however many they are, and the watched ones among them are reported as
    /// changed when the change is larger than rounding (the rule of a recomputation).
    private mutating func shiftLevel(_ gi: Int, before m: Int, now: Double) -> Bool {
        let (start, end) = (Int(groups[gi].linkStart), Int(groups[gi].linkEnd))
        guard start < end else { return false }
        let after = groups[gi].count
        // The component: every link of the path in it, or new (only this group on it).
        var c: Int32 = -1
        var onHead = false
        var fresh = false
        for k in start..<end {
            let l = Int(linkStore[k])
            let lc = cacheOf[l]
            if lc < 0 {
                guard after > 0, m == 0, linkGroupCount[l] == 1 else { return false }
                fresh = true
                continue
            }
            if c < 0 { c = lc }
            guard lc == c else { return false }
            if l == Int(levelCaches[Int(c)].head) { onHead = true }
        }
        guard c >= 0, onHead else { return false }
        var cache = levelCaches[Int(c)]
        let head = Int(cache.head)
        let margin = LevelCache.margin
        let ceiling = groups[gi].ceiling
        let oldRate = groups[gi].rate
        let wasHeld = m > 0 && groups[gi].held
        // An idle group joins below the level at its ceiling, else held.
        let nowHeld = after > 0 && (m > 0 ? wasHeld : !(ceiling < cache.level))
        var heldOnHead = Int(heldFlows[head])
        var fixed = cache.fixed
        if m > 0 {
            if wasHeld { heldOnHead -= m } else { fixed -= Double(m) * oldRate }
        }
        if after > 0 {
            if nowHeld {
                heldOnHead += after
                cache.minHeld = Swift.min(cache.minHeld, ceiling)
            } else {
                // A group at its ceiling stays there only if that is its rate.
                guard oldRate == ceiling || m == 0 else { return false }
                fixed += Double(after) * ceiling
                cache.maxBelow = Swift.max(cache.maxBelow, ceiling)
            }
        }
        let capacityHead = capacity[head]
        guard heldOnHead > 0, fixed >= 0, fixed < capacityHead else { return false }
        let level = (capacityHead - fixed) / Double(heldOnHead)
        guard level > cache.maxBelow * (1 + margin), level < cache.minHeld * (1 - margin), level <= cache.minFill else {
            return false
        }
        // The group's own links: its flows at their new rate, the held ones at the new level.
        let newRate = nowHeld ? level : ceiling
        var minFill = cache.minFill
        for k in start..<end {
            let l = Int(linkStore[k])
            guard l != head else { continue }
            let others = Int(heldFlows[l]) - (wasHeld ? m : 0)
            let held = others + (nowHeld ? after : 0)
            let newLoad = load(l) + (level - cache.level) * Double(others) - Double(m) * oldRate
                + Double(after) * newRate
            guard newLoad <= capacity[l] * (1 - margin) else { return false }
            if held > 0 { minFill = Swift.min(minFill, level + (capacity[l] * (1 - margin) - newLoad) / Double(held)) }
        }
        guard level <= minFill else { return false }

        levelShifts += 1
        if fresh {
            for k in start..<end where cacheOf[Int(linkStore[k])] < 0 {
                let l = linkStore[k]
                cacheOf[Int(l)] = c
                heldFlows[Int(l)] = 0
                load[Int(l)] = 0
                cache.links.append(l)
            }
        }
        // The links' loads count the flows the head does not hold; its held flows follow the level.
        let keep = abs(ceiling - oldRate) <= 1e-12 * Swift.max(ceiling, oldRate)
        let ownFixed = nowHeld ? 0 : Double(after) * (keep ? oldRate : ceiling)
        for k in start..<end {
            let l = Int(linkStore[k])
            if !wasHeld { load[l] = Swift.max(0, load[l] - Double(m) * oldRate) }
            load[l] += ownFixed
            heldFlows[l] += Int32((nowHeld ? after : 0) - (wasHeld ? m : 0))
        }
        groups[gi].held = nowHeld
        cache.level = level
        cache.fixed = fixed
        cache.minFill = minFill
        levelCaches[Int(c)] = cache
        // A held group that goes idle keeps the rate it had.
        if wasHeld && after == 0 { unbind(gi, now: now) }
        moveClock(c, to: level, now: now)
        if nowHeld && m == 0 {
            setRate(gi, level)
            bind(gi, to: c, now: now)
        } else if !nowHeld && after > 0 && !keep {
            setRate(gi, ceiling)
        }
        return true
    }

    /// Brings a group's byte count up to `now`.
    package mutating func flush(_ gi: Int, now: Double) {
        let c = Int(clockOf[gi])
        if c >= 0 {
            let phi = clocks[c].phi(at: now)
            let d = phi - phiMark[gi]
            if d != 0 {
                groups[gi].bytes += d * Double(groups[gi].count)
                groups[gi].service += d
            }
            phiMark[gi] = phi
            groups[gi].rate = clocks[c].level
            if groups[gi].follows { groups[gi].limit = clocks[c].level }
            groups[gi].updated = now
            return
        }
        let dt = now - groups[gi].updated
        if dt > 0 {
            groups[gi].bytes += groups[gi].rate * Double(groups[gi].count) * dt
            groups[gi].service += groups[gi].rate * dt
        }
        groups[gi].updated = now
    }

    private mutating func setRate(_ gi: Int, _ rate: Double) {
        guard groups[gi].rate != rate else { return }
        adjustOwner(gi, by: (rate - groups[gi].rate) * Double(groups[gi].count))
        groups[gi].rate = rate
        markChanged(gi)
    }

    /// Lists group `gi` in ``changedGroups`` unless it is there.
    private mutating func markChanged(_ gi: Int) {
        if !groups[gi].changed {
            groups[gi].changed = true
            changedGroups.append(Int32(gi))
        }
    }

    private mutating func adjustOwner(_ gi: Int, by delta: Double) {
        adjustOwnerRate(groups[gi].owner, by: delta)
    }

    private mutating func adjustOwnerRate(_ owner: Int32, by delta: Double) {
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
        for g in list { groups[Int(g)].changed = false }
        return list
    }
}
