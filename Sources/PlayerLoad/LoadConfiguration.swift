/// `ecdn load`: players arriving at sites by a rate profile or a trace.
public struct LoadConfiguration: Sendable {
    /// The router, `http://host:port` or `https://host:port`.
    public var router: String
    /// A PEM CA file that `https://` servers' certificates are checked against (the router's,
    /// the caches' and the origin's); nil: the system's trust roots. Default nil.
    public var caFile: String?
    /// Client prefixes to send from, one per site (`127.0.1.0/24`); viewers take addresses .100–.199.
    public var sitePrefixes: [String]
    /// Site names for the report, parallel to `sitePrefixes`.
    public var siteNames: [String]
    /// Live channels to choose from (Zipf popularity, channel 1 most popular). Default 4.
    public var channels: Int
    /// Zipf exponent of channel popularity. Default 1.
    public var zipf: Double
    public var profile: LoadProfile
    /// Replay these arrivals instead of the profile; the trace's groups are mapped onto the sites.
    public var trace: [TraceArrival]?
    /// Trace time is divided by this (2 replays twice as fast). Default 1.
    public var traceSpeed: Double
    /// How long arrivals go on, seconds; nil = until cancelled (or the end of the trace).
    public var duration: Double?
    /// Watch time of a profile viewer, uniform in this range. Default 20...60 s.
    public var watch: ClosedRange<Double>
    /// Viewers at once, at most (more arrivals are dropped and counted). Default 200.
    public var maxViewers: Int
    public var player: PlayerConfiguration
    /// Random seed. Default 1.
    public var seed: UInt64

    public init(
        router: String,
        sitePrefixes: [String] = ["127.0.1.0/24", "127.0.2.0/24", "127.0.3.0/24"],
        siteNames: [String]? = nil,
        channels: Int = 4,
        zipf: Double = 1,
        profile: LoadProfile = .constant(0.2, sites: 3),
        trace: [TraceArrival]? = nil,
        traceSpeed: Double = 1,
        duration: Double? = 60,
        watch: ClosedRange<Double> = 20...60,
        maxViewers: Int = 200,
        player: PlayerConfiguration = PlayerConfiguration(),
        seed: UInt64 = 1,
        caFile: String? = nil
    ) {
        self.caFile = caFile
        self.router = router
        self.sitePrefixes = sitePrefixes
        self.siteNames = siteNames ?? sitePrefixes.indices.map { "site\($0 + 1)" }
        self.channels = channels
        self.zipf = zipf
        self.profile = profile
        self.trace = trace
        self.traceSpeed = traceSpeed
        self.duration = duration
        self.watch = watch
        self.maxViewers = maxViewers
        self.player = player
        self.seed = seed
    }
}
