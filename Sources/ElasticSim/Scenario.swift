/// One simulation experiment: topology, workload, player, caches and outputs. Every field has a
/// default that follows the calibration of the original simulator; see `docs/simulator.md` for
/// the scenario file format that fills it.
public struct Scenario: Sendable {
    /// Name used in reports and `summary.json`.
    public var name: String = "scenario"
    /// Seed of every random draw; the same seed gives bit-identical results.
    public var seed: UInt64 = 1
    /// Simulated time in seconds (default 1800).
    public var duration: Double = 1800
    public var topology = TopologyConfig()
    public var workload = WorkloadConfig()
    public var player = PlayerConfig()
    public var caches = CacheConfig()
    public var cost = CostConfig()
    /// Interval of the time series in seconds (default 10).
    public var sampleInterval: Double = 10
    /// Whose modelling choices the run follows where the two simulators differ (default
    /// ``Model/ecdn``).
    public var model: Model = .ecdn

    public init() {}

    /// The modelling choices where this simulator and the original one (CDNSim) differ; see
    /// `docs/simulator.md`.
    public enum Model: String, Sendable, CaseIterable {
        /// This simulator's own choices: buffering ratio = stall time / watched time, a round
        /// trip of the path added to the start-up delay.
        case ecdn
        /// CDNSim's: buffering ratio = buffering / (buffering + play) with the start-up counted
        /// as buffering; a flow starts (hops + 1) x hop delay after its request. Its workload
        /// defaults follow too: gamma-distributed gaps, bitrate rungs redrawn above the top.
        case cdnsim
    }

    /// Where the AS graph comes from.
    public struct TopologyConfig: Sendable {
        public enum Source: Sendable, Equatable {
            /// A country of the real data set (`de`, `fr`, `us`, ...).
            case country(String)
            /// A complete tree.
            case tree(fanout: Int, depth: Int)
            /// A Barabási–Albert graph.
            case barabasiAlbert(nodes: Int, attach: Int)
        }
        public var source: Source = .country("de")
        /// Topology data folder; `nil` means the caller's default.
        public var dataDirectory: String?
        /// Keep AS links seen on at least this many days (default 31).
        public var minDaysSeen: Int = 31
        /// Country graph (default) or the whole AS graph.
        public var routing: Topology.Routing = .country
        /// Capacity of links that touch an access AS, bits/s (default 10 Gb/s).
        public var accessLinkCapacity: Double = 10e9
        /// Capacity of core links, bits/s (default 40 Gb/s).
        public var coreLinkCapacity: Double = 40e9
        /// Propagation delay per AS hop, seconds (default 0.01).
        public var hopDelay: Double = 0.01
        public init() {}
    }

    /// Viewers and what they watch.
    public struct WorkloadConfig: Sendable {
        public enum Mode: String, Sendable { case live, vod }
        public var mode: Mode = .live
        /// Hosts placed on access ASes in proportion to routable IPv4 space (default 1,000,000).
        public var hosts: Int = 1_000_000
        /// Live channels (default 200).
        public var channels: Int = 200
        /// Zipf exponent of channel popularity (default 1.2).
        public var zipfExponent: Double = 1.2
        /// Video-on-demand catalogue size (default 10,000 objects).
        public var vodObjects: Int = 10_000
        /// Zipf exponent of object popularity (default 0.8).
        public var vodZipfExponent: Double = 0.8
        /// Object durations, seconds: triangular (low, mode, high) (default 120, 1200, 5400).
        public var vodDuration: (low: Double, mode: Double, high: Double) = (120, 1200, 5400)
        /// Bitrate ladder in bits/s (default 1, 2.5, 5, 8, 10, 20 Mb/s).
        public var bitrates: [Double] = [1e6, 2.5e6, 5e6, 8e6, 10e6, 20e6]
        /// Mean of the Poisson draw of the bitrate index (default 2).
        public var bitrateIndexMean: Double = 2
        /// What a draw above the top rung of the ladder becomes (default ``BitrateAboveTop/cap``).
        public var bitrateAboveTop: BitrateAboveTop = .cap
        /// How the gaps between arrivals are drawn (default ``Interarrival/exponential``).
        public var interarrival: Interarrival = .exponential
        /// View time, seconds: triangular (low, mode, high) (default 60, 1800, 2700).
        public var viewTime: (low: Double, mode: Double, high: Double) = (60, 1800, 2700)
        /// Arrival rate profile: rows `(time, viewers per second)`, piecewise constant from each
        /// row's time. Default: the rate that keeps 10,000 streams on average.
        public var arrivalProfile: [(time: Double, rate: Double)] = [(0, 10_000 / 1520)]
        /// Start with the streams a stationary system would hold at time 0 (default true);
        /// their start-up is not counted in the QoE figures.
        public var warmStart: Bool = true
        /// A viewer-session trace (CSV, ``TraceFile``) replayed instead of the synthetic
        /// arrivals; `nil` (default) draws them.
        public var trace: String?
        /// Background streams on the links at all times (CDNSim's `-backnoise`; default 0).
        public var backgroundStreams: Int = 0
        public init() {}

        /// Mean view time in seconds.
        public var meanViewTime: Double { (viewTime.low + viewTime.mode + viewTime.high) / 3 }

        /// What a Poisson draw of the bitrate index above the top rung becomes.
        public enum BitrateAboveTop: String, Sendable, CaseIterable {
            /// The top rung.
            case cap
            /// Drawn again until it falls on the ladder (CDNSim).
            case redraw
        }

        /// The distribution of the gaps between arrivals at rate `r`.
        public enum Interarrival: String, Sendable, CaseIterable {
            /// Exponential with mean 1/r: a Poisson process.
            case exponential
            /// Gamma with shape 1/r and scale 1 s: mean 1/r, variance 1/r s² (CDNSim's
            /// `standard_gamma(1/r)`; far burstier than Poisson at high rates).
            case gamma
        }
    }

    /// The video player.
    public struct PlayerConfig: Sendable {
        /// Seconds buffered before playback starts (default 10).
        public var startupBuffer: Double = 10
        /// Seconds buffered before playback resumes after a stall (default: as startup).
        public var resumeBuffer: Double? = nil
        /// Buffer size in seconds; a live stream is capped at its bitrate once it is full
        /// (default 10: a live source keeps 10 s behind the live edge).
        public var maxBuffer: Double = 10
        /// Capacity of each viewer's access link, bits/s (default 25 Mb/s).
        public var accessCapacity: Double = 25e6
        public init() {}
    }

    /// Where caches run and how they are managed.
    public struct CacheConfig: Sendable {
        public enum Mode: String, Sendable {
            /// Everything from the origin.
            case none
            /// A permanent cache in a share of the access ASes.
            case `static`
            /// Per-content instances started on demand at access ASes.
            case elastic
            /// Elastic, and a cache fills from the nearest cache upstream on its path.
            case hierarchical
        }
        public enum Placement: String, Sendable {
            case random
            case mostPopulated = "most-populated"
        }
        public var mode: Mode = .none
        /// Share of access ASes with a static cache, percent (default 100).
        public var staticPercent: Double = 100
        public var placement: Placement = .random
        /// Viewers of a content at an AS that start an instance (default 1).
        public var threshold: Int = 1
        /// Boot time in seconds (default 0.1).
        public var bootTime: Double = 0.1
        /// Idle time before an instance stops, seconds (default 0).
        public var idleTimeout: Double = 0
        /// Viewers wait for a booting instance (default) or go to the origin meanwhile.
        public var waitForBoot: Bool = true
        /// Serving capacity of one instance, bits/s (default: unlimited).
        public var instanceCapacity: Double? = nil
        /// Connections of one instance (default: unlimited).
        public var instanceConnections: Int? = nil
        /// Instances one AS can run (default: unlimited).
        public var maxInstancesPerSite: Int? = nil
        /// How instances relate to contents (default ``Instances/shared``).
        public var instances: Instances = .shared
        /// The size of one instance in the capacity model.
        public var instanceSize = InstanceSize()
        /// Storage of one instance for video on demand, bytes (default 100 GB); `nil` keeps
        /// every object (no eviction).
        public var storage: Double? = 100e9
        /// Which objects a full cache evicts (default LRU): minicache's own policies.
        public var eviction: EvictionChoice = .lru
        public init() {}

        /// How cache instances relate to contents.
        public enum Instances: String, Sendable, CaseIterable {
            /// A site's instances serve any content: a site runs as many as its load needs
            /// (``InstanceSize``), and only a site that runs none waits for a boot.
            case shared
            /// One instance per content per site, each booting on its own (CDNSim, the paper).
            case perContent = "per-content"
        }

        /// What one instance carries and holds: the capacity model that counts instances for
        /// both static and elastic caches. Defaults are minicache's measured figures
        /// (docs/minicache.md): ~10 Gb/s on one core, 10,000 connections (`--max-connections`),
        /// 9 MiB of memory after serving.
        public struct InstanceSize: Sendable {
            /// Bits per second one instance serves (default 10 Gb/s).
            public var capacity: Double = 10e9
            /// Connections one instance holds (default 10,000).
            public var connections: Int = 10_000
            /// Memory footprint in MiB (default 9).
            public var memoryMiB: Double = 9
            public init() {}
        }

        /// An eviction policy of the cache (`CacheEviction`).
        public enum EvictionChoice: String, Sendable, CaseIterable {
            case lru, s3fifo, sieve
        }
    }

    /// Prices that turn a run into a cost (illustrative list prices in dollars; set your own).
    public struct CostConfig: Sendable {
        /// Per hour a site runs at least one instance (a slot in a micro-datacenter; default 0.05).
        public var siteHour: Double = 0.05
        /// Per instance-hour (one core; default 0.02).
        public var instanceHour: Double = 0.02
        /// Per GiB-hour of instance memory (default 0.005).
        public var memoryGiBHour: Double = 0.005
        /// Per instance boot (default 0.0001).
        public var boot: Double = 0.0001
        /// Per GB that leaves the origin (transit; default 0.002).
        public var transitGB: Double = 0.002
        public init() {}
    }
}
