/// One viewer: where it is, what it watches, how far its download and playback are, and its
/// QoE so far.
struct Viewer {
    enum Phase: UInt8 {
        /// Waiting for a booting cache; no flow yet.
        case pending
        /// Downloading, not playing (start-up or stall).
        case waiting
        /// Downloading and playing.
        case playing
        /// Download complete, playing out the buffer.
        case drained
        case gone
    }

    var node: Int32
    var content: Int32
    var bitrateIndex: Int32
    /// Bytes per second.
    var bitrate: Double
    var arrival: Double
    /// Bytes to download.
    var total: Double
    var phase: Phase = .pending
    var cohort: Int32 = -1
    /// Bumped whenever the viewer leaves a cohort; stale heap keys and events are skipped.
    var version: UInt32 = 0
    /// Downloaded bytes are `offset + S` of the cohort, or `offset` outside any cohort.
    var offset = 0.0
    /// While playing, played bytes are `bitrate * t - playOrigin`.
    var playOrigin = 0.0
    /// Played bytes while not playing.
    var played = 0.0
    var path: Int32 = -1
    var capped = false
    /// The instance serving (or about to serve) this viewer, -1 for the origin.
    var instance: Int32 = -1
    /// On the origin until ``instance`` is ready.
    var bypassing = false
    /// Counted in the instance's fill demand.
    var fillCounted = false
    var started = false
    /// A flow start is scheduled after the propagation delay (CDNSim model).
    var flowDue = false
    /// Seconds from arrival to playback (set when playback starts).
    var startupDelay = 0.0
    var stalls: Int32 = 0
    var stallTime = 0.0
    var stallStart = 0.0
    /// Present when the run started (warm start): not counted in the QoE figures.
    var warm = false
}

/// Demand for one content at one site.
struct SiteContent {
    var viewers = 0
    var instances: [Int32] = []
}

/// A running cache instance.
struct Instance {
    var node: Int32
    /// -1 for a static cache that serves every content.
    var content: Int32
    var ready: Bool
    var readyAt: Double
    var started: Double
    var connections = 0
    var idleSince: Double?
    /// The instance's serving link, -1 when its capacity is unlimited.
    var link: Int32 = -1
    /// Viewers waiting for (or bypassing) this instance until it is ready.
    var pending: [Int32] = []
    /// Viewers downloading from this instance per `(content, bitrate)` key.
    var fillDemand: [Int: Int] = [:]
    /// Running fill flows per key: the group and the upstream instance (or -1).
    var fills: [Int: (group: Int32, upstream: Int32)] = [:]
    var version: UInt32 = 0
    var live = true
}
