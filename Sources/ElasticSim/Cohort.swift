import HeapModule

/// Viewers whose download rate is always the same: same flow group (path and cap) and playback
/// state, and for playing viewers the same bitrate (waiting viewers' thresholds are bytes
/// downloaded, whatever their bitrate).
///
/// A cohort keeps its cumulative service `S(t) = ∫ rate dt`; a member's downloaded bytes are
/// `offset + S(t)`, so a rate change touches the cohort, not its members. Every threshold a
/// member can cross is a key in a heap: in S-space (bytes downloaded: start-up, resume, end of
/// download) or in h-space, `h(t) = S(t) - bitrate * t`, which all playing members share
/// (buffer full when h rises to a key, empty when it falls to one). The next event of the whole
/// cohort is read off the heap tops.
struct Cohort {
    // The fields a rate change reads come first, so that they share a cache line: a settle
    // that changes the rates of many groups visits every cohort of those groups once.
    var service: Double = 0
    var updated: Double
    var rate: Double
    /// Bytes per second of playback (of the first member in a waiting cohort, where it is unused).
    var bitrate: Double
    var serviceTop = Double.infinity
    var fullTop = Double.infinity
    var emptyTop = Double.infinity
    var group: Int32
    /// The neighbours in the group's list of cohorts (``GroupInfo``), -1 at its ends.
    var previousInGroup: Int32 = -1
    var nextInGroup: Int32 = -1
    var playing: Bool
    /// Not visited when its group's rate changes: the cohort takes its service from the group's
    /// (``FlowNetwork/service(_:at:)``, `phiMark` its value when `service` was last brought up to
    /// date) and waits in the queue until the earliest time any of its members could cross a
    /// threshold at any rate its group can get (``earliestCrossing(at:bound:)``).
    var lazy = false
    /// The heap tops belong to current members (checked by the last look at them; only a member
    /// leaving can make a top stale, inserting keys of members cannot), and their keys are
    /// copied above (infinity for an empty heap), so a rate change reschedules the cohort
    /// without reading its heaps.
    var topsCurrent = false
    var live = true
    var scheduled = Double.infinity
    var bitrateIndex: Int
    var count = 0
    /// Waiting cohorts: start/resume thresholds. Playing cohorts: end of download.
    var serviceKeys = Heap<CohortKey>()
    /// Playing cohorts: buffer-full keys (min h).
    var fullKeys = Heap<CohortKey>()
    /// Playing cohorts: buffer-empty keys (`h + key` is a member's buffer: the least empties first).
    var emptyKeys = Heap<CohortKey>()
    var primaryKey: Int = -1
    var phiMark = 0.0

    init(group: Int32, bitrateIndex: Int, bitrate: Double, playing: Bool, now: Double, rate: Double) {
        self.group = group
        self.bitrateIndex = bitrateIndex
        self.bitrate = bitrate
        self.playing = playing
        self.updated = now
        self.rate = rate
    }

    mutating func advance(to now: Double) {
        if now > updated {
            service += rate * (now - updated)
            updated = now
        }
    }

    var heapEntries: Int { serviceKeys.count + fullKeys.count + emptyKeys.count }
}

extension Cohort {
    /// The earliest time after `now` one of the members crosses a threshold, and which kind of
    /// threshold (0: service, 1: buffer full, 2: buffer empty); the tops must be current.
    func nextCrossing(at now: Double) -> (time: Double, kind: Int)? {
        var best: (time: Double, kind: Int)?
        let service = self.service + rate * (now - updated)
        if rate > 0, serviceTop.isFinite {
            best = (now + Swift.max(0, serviceTop - service) / rate, 0)
        }
        guard playing else { return best }
        let h = service - bitrate * now
        if rate > bitrate, fullTop.isFinite {
            let t = now + Swift.max(0, fullTop - h) / (rate - bitrate)
            if best.map({ t < $0.time }) ?? true { best = (t, 1) }
        }
        if rate < bitrate, emptyTop.isFinite {
            // The member with the least buffer, `h + key`, empties first as h falls.
            let t = now + Swift.max(0, h + emptyTop) / (bitrate - rate)
            if best.map({ t < $0.time }) ?? true { best = (t, 2) }
        }
        return best
    }

    /// The earliest time after `now` one of the members can cross a threshold while the rate
    /// stays anywhere in `0...bound`: the service rises at most at `bound`, a buffer falls at most
    /// at the bitrate and rises at most at `bound` minus it. The tops must be current.
    func earliestCrossing(at now: Double, bound: Double) -> Double {
        let service = self.service + rate * (now - updated)
        var t = Double.infinity
        if bound > 0, serviceTop.isFinite { t = now + Swift.max(0, serviceTop - service) / bound }
        guard playing else { return t }
        let h = service - bitrate * now
        if bound > bitrate, fullTop.isFinite { t = Swift.min(t, now + Swift.max(0, fullTop - h) / (bound - bitrate)) }
        if emptyTop.isFinite { t = Swift.min(t, now + Swift.max(0, h + emptyTop) / bitrate) }
        return t
    }

    /// Drops the keys of members that left (cohort `id`) from the heap tops and copies the top keys.
    mutating func refreshTops(id c: Int32, viewers: [Viewer]) {
        func isCurrent(_ key: CohortKey) -> Bool {
            let viewer = viewers[Int(key.viewer)]
            return viewer.version == key.version && viewer.cohort == c
        }
        while let top = serviceKeys.min, !isCurrent(top) { serviceKeys.removeMin() }
        while let top = fullKeys.min, !isCurrent(top) { fullKeys.removeMin() }
        while let top = emptyKeys.min, !isCurrent(top) { emptyKeys.removeMin() }
        serviceTop = serviceKeys.min?.key ?? .infinity
        fullTop = fullKeys.min?.key ?? .infinity
        emptyTop = emptyKeys.min?.key ?? .infinity
        topsCurrent = true
    }

    /// How far ahead (seconds) a cohort's earliest possible crossing must lie for it to stop
    /// following its group's rate changes: a lazy cohort is looked at again then, so a shorter
    /// horizon means more of these looks.
    static let lazyHorizon = 1.0

    /// Brings each touched cohort up to `now`, gives it its group's rate and moves it to its next
    /// crossing in `queue`, in one visit per cohort (a settle that changes many groups touches
    /// many cohorts, and each visit is a cache miss). A cohort whose next crossing, at any rate
    /// its group can get until something visits it again, lies at least ``lazyHorizon`` ahead
    /// becomes lazy and waits in the queue for that earliest time instead. The queue is updated
    /// after all visits: the visits are independent of each other, so their misses overlap;
    /// `moved` is scratch space. The network is only read; it is passed `inout` because a borrow
    /// of the simulation's stored network copies it (a retain and release of each of its arrays).
    static func reschedule(
        _ touched: [Int32], net: inout FlowNetwork, viewers: [Viewer], now: Double, in cohorts: inout [Cohort],
        groupInfo: inout AlignedArray<GroupInfo>, touchedMark: inout [Bool], queue: inout CohortQueue, moved: inout [Int32]
    ) {
        moved.removeAll(keepingCapacity: true)
        for c in touched {
            let ci = Int(c)
            touchedMark[ci] = false
            guard cohorts[ci].live else {
                cohorts[ci].scheduled = .infinity
                moved.append(c)
                continue
            }
            if !cohorts[ci].topsCurrent { cohorts[ci].refreshTops(id: c, viewers: viewers) }
            let g = cohorts[ci].group
            if cohorts[ci].lazy {
                let phi = net.service(g, at: now)
                cohorts[ci].service += phi - cohorts[ci].phiMark
                cohorts[ci].updated = now
            } else {
                cohorts[ci].advance(to: now)
            }
            cohorts[ci].rate = net.rate(g)
            var time = cohorts[ci].nextCrossing(at: now)?.time ?? .infinity
            var lazy = false
            if time - now >= lazyHorizon {
                var bound = net.cap(g)
                let limiter = groupInfo[Int(g)].limiter
                // A starved fill's viewers get less than its bitrate until the fill's limit goes
                // (which visits every cohort of the group).
                if limiter >= 0 && net.limit(g).isFinite { bound = Swift.min(bound, net.cap(limiter)) }
                let earliest = cohorts[ci].earliestCrossing(at: now, bound: bound)
                if earliest - now >= lazyHorizon {
                    lazy = true
                    time = earliest
                }
            }
            if lazy {
                cohorts[ci].phiMark = net.service(g, at: now)
            }
            if lazy != cohorts[ci].lazy {
                cohorts[ci].lazy = lazy
                if lazy { groupInfo[Int(g)].eagerCohorts -= 1 } else { groupInfo[Int(g)].eagerCohorts += 1 }
            }
            if time != cohorts[ci].scheduled {
                cohorts[ci].scheduled = time
                moved.append(c)
            }
        }
        for c in moved { queue.set(c, cohorts[Int(c)].scheduled) }
    }
}
