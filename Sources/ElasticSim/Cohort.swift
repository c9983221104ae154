import HeapModule

/// Viewers whose download rate is always the same: same flow group (path and cap), same
/// bitrate, same playback state.
///
/// A cohort keeps its cumulative service `S(t) = ∫ rate dt`; a member's downloaded bytes are
/// `offset + S(t)`, so a rate change touches the cohort, not its members. Every threshold a
/// member can cross is a key in a heap: in S-space (bytes downloaded: start-up, resume, end of
/// download) or in h-space, `h(t) = S(t) - bitrate * t`, which all playing members share
/// (buffer full when h rises to a key, empty when it falls to one). The next event of the whole
/// cohort is read off the heap tops.
struct Cohort {
    var group: Int32
    var bitrateIndex: Int
    /// Bytes per second of playback.
    var bitrate: Double
    var playing: Bool
    var service: Double = 0
    var updated: Double
    var rate: Double
    var count = 0
    /// Waiting cohorts: start/resume thresholds. Playing cohorts: end of download.
    var serviceKeys = Heap<CohortKey>()
    /// Playing cohorts: buffer-full keys (min h).
    var fullKeys = Heap<CohortKey>()
    /// Playing cohorts: buffer-empty keys (`h + key` is a member's buffer: the least empties first).
    var emptyKeys = Heap<CohortKey>()
    /// The heap tops belong to current members (checked by the last look at them; only a member
    /// leaving can make a top stale, inserting keys of members cannot), and their keys are
    /// copied below (infinity for an empty heap), so a rate change reschedules the cohort
    /// without reading its heaps.
    var topsCurrent = false
    var serviceTop = Double.infinity
    var fullTop = Double.infinity
    var emptyTop = Double.infinity
    var scheduled = Double.infinity
    var primaryKey: Int = -1
    var live = true

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

    /// Brings the cohorts of a group whose rate changed up to `now` and gives them the new rate
    /// (one pass over the array, so one exclusive access instead of one per cohort).
    static func retime(
        _ members: [Int32], rate: Double, now: Double, in cohorts: inout [Cohort],
        touched: inout [Int32], touchedMark: inout [Bool]
    ) {
        for c in members {
            cohorts[Int(c)].advance(to: now)
            cohorts[Int(c)].rate = rate
            if !touchedMark[Int(c)] {
                touchedMark[Int(c)] = true
                touched.append(c)
            }
        }
    }

    /// Moves each touched live cohort (tops current) to its next crossing in `queue`.
    static func reschedule(_ touched: [Int32], now: Double, in cohorts: inout [Cohort], queue: inout CohortQueue) {
        for c in touched {
            let ci = Int(c)
            guard cohorts[ci].live else {
                queue.set(c, .infinity)
                continue
            }
            let time = cohorts[ci].nextCrossing(at: now)?.time ?? .infinity
            if time != cohorts[ci].scheduled {
                cohorts[ci].scheduled = time
                queue.set(c, time)
            }
        }
    }
}
