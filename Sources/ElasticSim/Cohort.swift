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
