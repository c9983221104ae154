import HeapModule

extension Simulation {
    // MARK: Paths and groups

    /// The path from `source` down to `node`, through an instance's serving link if any.
    func path(from source: Int, to node: Int, instanceLink: Int32) -> Int32 {
        let key = (source << 42) | (node << 21) | Int(instanceLink + 1)
        if let p = pathCache[key] { return p }
        var links: [Int32] = instanceLink >= 0 ? [instanceLink] : []
        links += topology.links(from: source, to: node).map { Int32($0) }
        let p = net.path(links, owner: Int32(source))
        if Int(p) == pathSource.count {
            pathSource.append(Int32(source))
            pathGroups.append([])
        }
        pathCache[key] = p
        return p
    }

    /// The groups of a path, by slot; with `n` rungs and `b` a rung:
    ///
    /// | slots | flows | cap |
    /// |---|---|---|
    /// | 0 | viewers filling their buffer | access link |
    /// | 1 + b | viewers with a full buffer | rung b |
    /// | n + 1 + b | cache fills | rung b |
    /// | 2n + 1 + b | viewers of a cache's fill at rung b, filling their buffer | access link, and the fill's rate while it is starved |
    /// | 3n + 1 + b | the same with a full buffer | rung b, and the fill's rate while it is starved |
    /// | 4n + 1 + b | background streams | rung b |
    func group(path p: Int32, slot: Int) -> Int32 {
        if pathGroups[Int(p)].isEmpty {
            let n = bitrates.count
            var ids: [Int32] = []
            for s in 0...(5 * n) {
                let (kind, cap, tag): (FlowKind, Double, UInt8) =
                    switch s {
                    case 0: (.viewer, accessCapacity, 0)
                    case 1...n: (.viewer, bitrates[s - 1], 0)
                    case (n + 1)...(2 * n): (.fill, bitrates[s - n - 1], 1)
                    case (2 * n + 1)...(3 * n): (.viewer, accessCapacity, UInt8(16 + s - 2 * n - 1))
                    case (3 * n + 1)...(4 * n): (.viewer, bitrates[s - 3 * n - 1], 2)
                    default: (.background, bitrates[s - 4 * n - 1], 3)
                    }
                let g = net.group(path: p, cap: cap, tag: tag)
                ids.append(g)
                while groupInfo.count <= Int(g) { groupInfo.append(GroupInfo()) }
                groupInfo[Int(g)].kind = kind
                groupInfo[Int(g)].source = pathSource[Int(p)]
                groupInfo[Int(g)].slot = Int16(s)
            }
            pathGroups[Int(p)] = ids
        }
        return pathGroups[Int(p)][slot]
    }

    func viewerGroup(_ v: Int32) -> Int32 {
        let viewer = viewers[Int(v)]
        let b = Int(viewer.bitrateIndex)
        guard viewer.fillCounted else { return group(path: viewer.path, slot: viewer.capped ? 1 + b : 0) }
        // A viewer whose cache fetches its stream gets no more than that fill.
        let n = bitrates.count
        let g = group(path: viewer.path, slot: viewer.capped ? 3 * n + 1 + b : 2 * n + 1 + b)
        if groupInfo[Int(g)].limiter < 0 {
            let cache = Int(instances[Int(viewer.instance)].node)
            let fill = fillGroup(node: cache, bitrateIndex: b)
            limit(g, by: fill)
        }
        return g
    }

    /// The group of the fills of rung `b` into a cache at `node`: from the origin, or in
    /// hierarchical mode from the cache above it, which passes on no more than its own fill of
    /// the rung gets.
    func fillGroup(node: Int, bitrateIndex b: Int) -> Int32 {
        let parent = topology.parent[node]
        let hierarchical = scenario.caches.mode == .hierarchical && parent >= 0 && parent != topology.origin
        let p = path(from: hierarchical ? parent : topology.origin, to: node, instanceLink: -1)
        let g = group(path: p, slot: 1 + bitrates.count + b)
        if hierarchical && groupInfo[Int(g)].limiter < 0 {
            let upstream = fillGroup(node: parent, bitrateIndex: b)
            limit(g, by: upstream)
        }
        return g
    }

    /// Makes fill `fill` limit group `g` from now on.
    private func limit(_ g: Int32, by fill: Int32) {
        groupInfo[Int(g)].limiter = fill
        let last = groupInfo[Int(fill)].lastDependent
        if last >= 0 {
            groupInfo[Int(last)].nextDependent = g
        } else {
            groupInfo[Int(fill)].firstDependent = g
        }
        groupInfo[Int(fill)].lastDependent = g
        touchAllCohorts(of: g)
        net.setLimit(fillLimit(fill), of: g, now: now, leader: fill)
        refreshWatch(fill)
    }

    /// What a fill lets its viewers have: its rate while it gets less than its bitrate (it is
    /// starved), else no limit.
    func fillLimit(_ fill: Int32) -> Double {
        let rate = net.rate(fill)
        return rate < net.cap(fill) * (1 - 1e-9) ? rate : .infinity
    }

    /// Passes the rate of fills that changed on to the viewers they feed (a viewer group bound
    /// to the fill's clock follows it without this: ``FlowNetwork/setLimit(_:of:now:leader:)``).
    /// Returns whether a limit or a binding changed.
    func propagateFillLimits(_ fill: Int32) -> Bool {
        var g = groupInfo[Int(fill)].firstDependent
        guard g >= 0 else { return false }
        let limit = fillLimit(fill)
        let clock = net.clock(fill)
        var changed = false
        while g >= 0 {
            let old = net.limit(g)
            let bound = net.clock(g)
            if old != limit || bound != clock {
                // A fill that starts or stops starving changes how fast its viewers can get:
                // lazy cohorts (Cohort.lazy) look again.
                if old.isFinite != limit.isFinite { touchAllCohorts(of: g) }
                net.setLimit(limit, of: g, now: now, leader: fill)
                changed = changed || old != limit || net.clock(g) != bound
            }
            g = groupInfo[Int(g)].nextDependent
        }
        refreshWatch(fill)
        return changed
    }

    /// Tells the network whether it must report every rate change of group `g` while a clock
    /// carries it: a viewer group with cohorts that follow its rate or that a starved group
    /// would uncap, a fill with a follower not bound to its clock.
    func refreshWatch(_ g: Int32) {
        let info = groupInfo[Int(g)]
        switch info.kind {
        case .viewer:
            net.setWatched(g, info.eagerCohorts > 0 || (info.firstCohort >= 0 && isCapped(slot: Int(info.slot))))
        case .fill:
            let clock = net.clock(g)
            var d = info.firstDependent
            while d >= 0 && net.clock(d) == clock { d = groupInfo[Int(d)].nextDependent }
            net.setWatched(g, d >= 0)
        case .background:
            net.setWatched(g, false)
        }
    }

    /// Whether slot `slot` of a path holds viewers capped at their bitrate (``group(path:slot:)``).
    func isCapped(slot: Int) -> Bool {
        let n = bitrates.count
        return (1...n).contains(slot) || ((3 * n + 1)...(4 * n)).contains(slot)
    }

    // MARK: Cohorts

    /// The key of a group's primary cohort for a bitrate and playback state. Waiting viewers of
    /// every bitrate share one cohort: their thresholds are bytes downloaded, which do not depend
    /// on the bitrate (fewer cohorts to reschedule when the group's rate changes).
    func cohortKey(group g: Int32, bitrateIndex: Int, playing: Bool) -> Int {
        playing ? Int(g) << 5 | bitrateIndex << 1 | 1 : Int(g) << 5
    }

    /// Puts a detached viewer into the cohort matching its path, cap and phase. `held` is the
    /// group whose flow ``detach(_:keepingFlow:)`` kept for the viewer: staying in it costs the
    /// network nothing (a viewer whose buffer empties stays in the same uncapped group), and
    /// moving to another group on the path is a ``FlowNetwork/transfer(_:from:to:now:)`` (a
    /// viewer that starts playing with a full buffer while a link holds it below its bitrate).
    func attach(_ v: Int32, held: Int32 = -1) {
        let g = viewerGroup(v)
        let viewer = viewers[Int(v)]
        let playing = viewer.phase == .playing
        let key = cohortKey(group: g, bitrateIndex: Int(viewer.bitrateIndex), playing: playing)
        let c: Int32
        if let existing = primaryCohort[key] {
            c = existing
        } else {
            c = newCohort(group: g, bitrateIndex: Int(viewer.bitrateIndex), playing: playing)
            cohorts[Int(c)].primaryKey = key
            primaryCohort[key] = c
        }
        advanceCohort(c)
        let service = cohorts[Int(c)].service
        let bytes = viewer.offset
        let offset = bytes - service
        let r = viewer.bitrate
        viewers[Int(v)].offset = offset
        viewers[Int(v)].cohort = c
        let version = viewer.version
        if playing {
            let playOrigin = r * now - viewer.played
            viewers[Int(v)].playOrigin = playOrigin
            cohorts[Int(c)].serviceKeys.insert(CohortKey(key: viewer.total - offset, viewer: v, version: version))
            cohorts[Int(c)].fullKeys.insert(
                CohortKey(key: scenario.player.maxBuffer * r - offset - playOrigin, viewer: v, version: version))
            cohorts[Int(c)].emptyKeys.insert(CohortKey(key: offset + playOrigin, viewer: v, version: version))
        } else {
            let buffer = viewer.started ? (scenario.player.resumeBuffer ?? scenario.player.startupBuffer) : scenario.player.startupBuffer
            let threshold = min(viewer.played + buffer * r, viewer.total)
            cohorts[Int(c)].serviceKeys.insert(CohortKey(key: threshold - offset, viewer: v, version: version))
        }
        // The new keys are current: the copied tops stay right if they take the new minimum.
        if cohorts[Int(c)].topsCurrent {
            cohorts[Int(c)].serviceTop = cohorts[Int(c)].serviceKeys.min?.key ?? .infinity
            cohorts[Int(c)].fullTop = cohorts[Int(c)].fullKeys.min?.key ?? .infinity
            cohorts[Int(c)].emptyTop = cohorts[Int(c)].emptyKeys.min?.key ?? .infinity
        }
        cohorts[Int(c)].count += 1
        if held >= 0 && net.groupPath[Int(held)] == net.groupPath[Int(g)] {
            if g != held { net.transfer(1, from: held, to: g, now: now) }
        } else {
            if held >= 0 { net.remove(1, from: held, now: now) }
            net.add(1, to: g, now: now)
        }
        touch(c)
    }

    /// Takes a viewer out of its cohort; afterwards `offset` holds its downloaded bytes and
    /// `played` its played bytes. With `keepingFlow` its flow stays in the network for the
    /// caller to pass to ``attach(_:held:)`` or remove; the group is returned.
    @discardableResult
    func detach(_ v: Int32, keepingFlow: Bool = false) -> Int32 {
        let c = viewers[Int(v)].cohort
        guard c >= 0 else { return -1 }
        let g = cohorts[Int(c)].group
        advanceCohort(c)
        let viewer = viewers[Int(v)]
        let bytes = viewer.offset + cohorts[Int(c)].service
        viewers[Int(v)].offset = bytes
        if viewer.phase == .playing {
            viewers[Int(v)].played = min(bytes, max(viewer.played, viewer.bitrate * now - viewer.playOrigin))
        }
        viewers[Int(v)].cohort = -1
        viewers[Int(v)].version &+= 1
        cohorts[Int(c)].count -= 1
        cohorts[Int(c)].topsCurrent = false
        if !keepingFlow { net.remove(1, from: g, now: now) }
        if cohorts[Int(c)].count == 0 {
            retireCohort(c)
        } else {
            touch(c)
            compactIfNeeded(c)
        }
        return g
    }

    func newCohort(group g: Int32, bitrateIndex: Int, playing: Bool) -> Int32 {
        let cohort = Cohort(
            group: g, bitrateIndex: bitrateIndex, bitrate: bitrates[bitrateIndex], playing: playing,
            now: now, rate: net.rate(g))
        let c: Int32
        if let reused = freeCohorts.popLast() {
            c = reused
            cohorts[Int(c)] = cohort
        } else {
            c = Int32(cohorts.count)
            cohorts.append(cohort)
            touchedMark.append(false)
            HugePages.adviseIfGrown(&cohorts, advised: &advisedCapacity.cohorts)
        }
        appendCohort(c, to: g)
        return c
    }

    /// Puts cohort `c` at the end of group `g`'s list.
    private func appendCohort(_ c: Int32, to g: Int32) {
        let last = groupInfo[Int(g)].lastCohort
        if !cohorts[Int(c)].lazy { groupInfo[Int(g)].eagerCohorts += 1 }
        cohorts[Int(c)].previousInGroup = last
        cohorts[Int(c)].nextInGroup = -1
        if last >= 0 {
            cohorts[Int(last)].nextInGroup = c
        } else {
            groupInfo[Int(g)].firstCohort = c
        }
        groupInfo[Int(g)].lastCohort = c
        refreshWatch(g)
    }

    /// Takes cohort `c` out of its group's list.
    private func unlinkCohort(_ c: Int32) {
        let g = Int(cohorts[Int(c)].group)
        if !cohorts[Int(c)].lazy { groupInfo[g].eagerCohorts -= 1 }
        let previous = cohorts[Int(c)].previousInGroup
        let next = cohorts[Int(c)].nextInGroup
        if previous >= 0 { cohorts[Int(previous)].nextInGroup = next } else { groupInfo[g].firstCohort = next }
        if next >= 0 { cohorts[Int(next)].previousInGroup = previous } else { groupInfo[g].lastCohort = previous }
        cohorts[Int(c)].previousInGroup = -1
        cohorts[Int(c)].nextInGroup = -1
    }

    func retireCohort(_ c: Int32) {
        let cohort = cohorts[Int(c)]
        if cohort.primaryKey >= 0 && primaryCohort[cohort.primaryKey] == c {
            primaryCohort[cohort.primaryKey] = nil
        }
        unlinkCohort(c)
        cohorts[Int(c)].lazy = false
        cohorts[Int(c)].live = false
        cohorts[Int(c)].scheduled = .infinity
        cohortQueue.set(c, .infinity)
        cohorts[Int(c)].serviceKeys = Heap()
        cohorts[Int(c)].fullKeys = Heap()
        cohorts[Int(c)].emptyKeys = Heap()
        freeCohorts.append(c)
    }

    /// Drops keys of viewers that left when they outnumber the members.
    func compactIfNeeded(_ c: Int32) {
        let cohort = cohorts[Int(c)]
        guard cohort.heapEntries > 4 * cohort.count + 64 else { return }
        func valid(_ k: CohortKey) -> Bool {
            let viewer = viewers[Int(k.viewer)]
            return viewer.version == k.version && viewer.cohort == c
        }
        cohorts[Int(c)].serviceKeys = Heap(cohort.serviceKeys.unordered.filter(valid))
        cohorts[Int(c)].fullKeys = Heap(cohort.fullKeys.unordered.filter(valid))
        cohorts[Int(c)].emptyKeys = Heap(cohort.emptyKeys.unordered.filter(valid))
    }

    /// A cohort capped at its bitrate that gets less than its bitrate is draining its buffers:
    /// it becomes an uncapped cohort (same rate, since its bottleneck is a link), so that it
    /// refills once bandwidth returns. Returns whether any cohort moved.
    func uncapStarvedCohorts(of g: Int32) -> Bool {
        let n = bitrates.count
        let slot = Int(groupInfo[Int(g)].slot)
        guard groupInfo[Int(g)].kind == .viewer, isCapped(slot: slot) else { return false }
        let cap = net.cap(g)
        guard net.rate(g) < cap * (1 - 1e-9) else { return false }
        guard groupInfo[Int(g)].firstCohort >= 0 else { return false }
        // The members leave the group's list before they join another one or merge.
        var members = movingCohorts
        movingCohorts = []
        members.removeAll(keepingCapacity: true)
        var member = groupInfo[Int(g)].firstCohort
        while member >= 0 {
            members.append(member)
            member = cohorts[Int(member)].nextInGroup
        }
        for c in members {
            cohorts[Int(c)].previousInGroup = -1
            cohorts[Int(c)].nextInGroup = -1
            // A lazy cohort's service comes from this group's: bring it up to date before it moves.
            if cohorts[Int(c)].lazy {
                advanceCohort(c)
                cohorts[Int(c)].lazy = false
            }
        }
        groupInfo[Int(g)].firstCohort = -1
        groupInfo[Int(g)].lastCohort = -1
        groupInfo[Int(g)].eagerCohorts = 0
        defer { movingCohorts = members }
        let p = net.groupPath[Int(g)]
        let target: Int32
        if slot <= n {
            target = group(path: p, slot: 0)
        } else {
            // Same fill, uncapped: it keeps the fill's limit.
            target = group(path: p, slot: slot - n)
            if groupInfo[Int(target)].limiter < 0 { limit(target, by: groupInfo[Int(g)].limiter) }
        }
        for c in members {
            let cohort = cohorts[Int(c)]
            if cohort.primaryKey >= 0 && primaryCohort[cohort.primaryKey] == c {
                primaryCohort[cohort.primaryKey] = nil
            }
            net.transfer(cohort.count, from: g, to: target, now: now)
            let key = cohortKey(group: target, bitrateIndex: cohort.bitrateIndex, playing: cohort.playing)
            if let primary = primaryCohort[key] {
                merge(c, into: primary)
            } else {
                cohorts[Int(c)].primaryKey = key
                primaryCohort[key] = c
                cohorts[Int(c)].group = target
                appendCohort(c, to: target)
                touch(c)
            }
        }
        return true
    }

    /// Moves the members of cohort `c` into cohort `primary` (same bitrate and playback state)
    /// and frees `c`, so that a group keeps one cohort per bitrate and state however often its
    /// viewers move: a rate change reschedules each cohort of the group. A member's keys and
    /// offset shift by the difference of the two cohorts' services. The caller takes `c` out of
    /// its group's list and moves its flows.
    func merge(_ c: Int32, into primary: Int32) {
        let ci = Int(c)
        let pi = Int(primary)
        advanceCohort(c)
        advanceCohort(primary)
        let shift = cohorts[ci].service - cohorts[pi].service
        func current(_ k: CohortKey) -> Bool {
            let viewer = viewers[Int(k.viewer)]
            return viewer.version == k.version && viewer.cohort == c
        }
        let service = cohorts[ci].serviceKeys.unordered.filter(current)
        let full = cohorts[ci].fullKeys.unordered.filter(current)
        let empty = cohorts[ci].emptyKeys.unordered.filter(current)
        // Every member has one service key.
        for k in service {
            viewers[Int(k.viewer)].offset += shift
            viewers[Int(k.viewer)].cohort = primary
        }
        cohorts[pi].serviceKeys.insert(contentsOf: service.lazy.map { CohortKey(key: $0.key - shift, viewer: $0.viewer, version: $0.version) })
        cohorts[pi].fullKeys.insert(contentsOf: full.lazy.map { CohortKey(key: $0.key - shift, viewer: $0.viewer, version: $0.version) })
        cohorts[pi].emptyKeys.insert(contentsOf: empty.lazy.map { CohortKey(key: $0.key + shift, viewer: $0.viewer, version: $0.version) })
        if cohorts[pi].topsCurrent {
            cohorts[pi].serviceTop = cohorts[pi].serviceKeys.min?.key ?? .infinity
            cohorts[pi].fullTop = cohorts[pi].fullKeys.min?.key ?? .infinity
            cohorts[pi].emptyTop = cohorts[pi].emptyKeys.min?.key ?? .infinity
        }
        cohorts[pi].count += cohorts[ci].count
        touch(primary)
        cohorts[ci].count = 0
        cohorts[ci].primaryKey = -1
        cohorts[ci].lazy = false
        cohorts[ci].live = false
        cohorts[ci].scheduled = .infinity
        cohortQueue.set(c, .infinity)
        cohorts[ci].serviceKeys = Heap()
        cohorts[ci].fullKeys = Heap()
        cohorts[ci].emptyKeys = Heap()
        freeCohorts.append(c)
    }

    // MARK: Cohort events

    /// Brings cohort `c`'s service up to `now`: at its own rate, or a lazy cohort from its
    /// group's service (it stays lazy).
    func advanceCohort(_ c: Int32) {
        let ci = Int(c)
        guard cohorts[ci].lazy else {
            cohorts[ci].advance(to: now)
            return
        }
        let g = cohorts[ci].group
        let phi = net.service(g, at: now)
        cohorts[ci].service += phi - cohorts[ci].phiMark
        cohorts[ci].phiMark = phi
        cohorts[ci].updated = now
        cohorts[ci].rate = net.rate(g)
    }

    /// A lazy cohort's earliest possible crossing came: it looks again (at the end of the
    /// settle), and follows its group's rate from there if a crossing is near.
    func wakeCohort(_ c: Int32) {
        wakeUps += 1
        cohortQueue.set(c, .infinity)
        cohorts[Int(c)].scheduled = .infinity
        touch(c)
    }

    func refreshTops(_ c: Int32) {
        cohorts[Int(c)].refreshTops(id: c, viewers: viewers)
    }

    /// The earliest time one of the cohort's members crosses a threshold, and which kind of
    /// threshold (0: service, 1: buffer full, 2: buffer empty).
    private func nextCrossing(_ c: Int32) -> (time: Double, kind: Int)? {
        if !cohorts[Int(c)].topsCurrent { refreshTops(c) }
        return cohorts[Int(c)].nextCrossing(at: now)
    }

    func handleCohort(_ c: Int32) {
        cohortQueue.set(c, .infinity)
        cohorts[Int(c)].scheduled = .infinity
        guard cohorts[Int(c)].live else { return }
        advanceCohort(c)
        while cohorts[Int(c)].live, let next = nextCrossing(c), next.time <= now + 1e-9 {
            let ci = Int(c)
            let top = next.kind == 0 ? cohorts[ci].serviceKeys.min : next.kind == 1 ? cohorts[ci].fullKeys.min : cohorts[ci].emptyKeys.min
            guard let v = top?.viewer else { break }
            switch next.kind {
            case 0: cohorts[Int(c)].playing ? downloadDone(v) : bufferReachedThreshold(v)
            case 1: bufferFull(v)
            default: bufferEmpty(v)
            }
        }
        if cohorts[Int(c)].live { touch(c) }
    }

    // MARK: Player

    /// Starts a viewer's download from its path (a new viewer, or one whose cache became ready).
    /// In the CDNSim model the flow starts (hops + 1) x hop delay later.
    func startFlow(_ v: Int32) {
        if scenario.model == .cdnsim && scenario.topology.hopDelay > 0 && !viewers[Int(v)].flowDue {
            let viewer = viewers[Int(v)]
            let hops = topology.depth[Int(viewer.node)] - topology.depth[Int(pathSource[Int(viewer.path)])]
            viewers[Int(v)].phase = .pending
            viewers[Int(v)].flowDue = true
            schedule(.flowStart, at: now + Double(hops + 1) * scenario.topology.hopDelay, target: v, version: viewer.version)
            return
        }
        viewers[Int(v)].flowDue = false
        viewers[Int(v)].phase = .waiting
        viewers[Int(v)].offset = 0
        viewers[Int(v)].played = 0
        viewers[Int(v)].capped = false
        attach(v)
    }

    /// Moves a downloading viewer to another path, keeping its buffer.
    func reroute(_ v: Int32, to p: Int32) {
        guard viewers[Int(v)].cohort >= 0 else {
            viewers[Int(v)].path = p
            return
        }
        detach(v)
        viewers[Int(v)].path = p
        attach(v)
    }

    func bufferReachedThreshold(_ v: Int32) {
        let held = detach(v, keepingFlow: true)
        let viewer = viewers[Int(v)]
        if !viewer.started {
            viewers[Int(v)].started = true
            if !viewer.warm {
                let hops = Double(topology.depth[Int(viewer.node)] - topology.depth[Int(pathSource[Int(viewer.path)])])
                // CDNSim's propagation delay already passed before the flow started.
                let roundTrip = scenario.model == .ecdn ? 2 * hops * scenario.topology.hopDelay : 0
                let delay = now - viewer.arrival + roundTrip
                viewers[Int(v)].startupDelay = delay
                startupDelays.append(delay)
            }
        } else {
            viewers[Int(v)].stallTime += now - viewer.stallStart
            stalledViewers -= 1
        }
        viewers[Int(v)].phase = .playing
        continueDownload(v, held: held)
    }

    /// After a phase change: drained if all is downloaded, else capped if the buffer is full.
    /// `held` is the viewer's flow kept by ``detach(_:keepingFlow:)``.
    private func continueDownload(_ v: Int32, held: Int32) {
        let viewer = viewers[Int(v)]
        if viewer.offset >= viewer.total * (1 - 1e-12) {
            if held >= 0 { net.remove(1, from: held, now: now) }
            drain(v)
            return
        }
        viewers[Int(v)].capped = viewer.offset - viewer.played >= scenario.player.maxBuffer * viewer.bitrate * (1 - 1e-12)
        attach(v, held: held)
    }

    /// A flow whose propagation delay has passed (CDNSim model).
    func handleFlowStart(_ v: Int32, version: UInt32) {
        let viewer = viewers[Int(v)]
        guard viewer.version == version, viewer.phase == .pending, viewer.flowDue else { return }
        startFlow(v)
    }

    func bufferFull(_ v: Int32) {
        let held = detach(v, keepingFlow: true)
        viewers[Int(v)].capped = true
        attach(v, held: held)
    }

    func bufferEmpty(_ v: Int32) {
        let held = detach(v, keepingFlow: true)
        let viewer = viewers[Int(v)]
        viewers[Int(v)].played = viewer.offset
        viewers[Int(v)].phase = .waiting
        viewers[Int(v)].capped = false
        viewers[Int(v)].stalls += 1
        viewers[Int(v)].stallStart = now
        stalledViewers += 1
        attach(v, held: held)
    }

    func downloadDone(_ v: Int32) {
        detach(v)
        drain(v)
    }

    private func drain(_ v: Int32) {
        let viewer = viewers[Int(v)]
        viewers[Int(v)].phase = .drained
        releaseFillDemand(v)
        let rest = max(0, viewer.total - viewer.played) / viewer.bitrate
        schedule(.viewerEnd, at: now + rest, target: v, version: viewer.version)
    }
}
