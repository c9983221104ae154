import ElasticSim
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `ecdn load`: players arriving at sites by a rate profile or a trace.
public struct LoadConfiguration: Sendable {
    /// The router, `http://host:port`.
    public var router: String
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
        seed: UInt64 = 1
    ) {
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

/// The outcome of a load run.
public struct LoadReport: Sendable, Codable {
    public var viewers: Int
    public var started: Int
    public var dropped: Int
    public var withErrors: Int
    public var toCache: Int
    public var toOrigin: Int
    public var startupDelayP50: Double?
    public var startupDelayP95: Double?
    public var bufferingRatioMean: Double
    public var bufferingRatioP95: Double
    public var stalls: Int
    public var bytes: Int
    public var bytesViaCache: Int
    public var bytesViaOrigin: Int
    public var firstResponseP50: Double?
    public var results: [PlayerResult]

    public init(results: [PlayerResult], dropped: Int) {
        func percentile(_ values: [Double], _ p: Double) -> Double? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
        }
        self.results = results
        viewers = results.count
        self.dropped = dropped
        started = results.filter { $0.startupDelay != nil }.count
        withErrors = results.filter { $0.errors > 0 }.count
        toCache = results.filter(\.servedByCache).count
        toOrigin = viewers - toCache
        let delays = results.compactMap(\.startupDelay)
        startupDelayP50 = percentile(delays, 0.5)
        startupDelayP95 = percentile(delays, 0.95)
        let ratios = results.filter { $0.startupDelay != nil }.map(\.bufferingRatio)
        bufferingRatioMean = ratios.isEmpty ? 0 : ratios.reduce(0, +) / Double(ratios.count)
        bufferingRatioP95 = percentile(ratios, 0.95) ?? 0
        stalls = results.reduce(0) { $0 + $1.stalls }
        bytes = results.reduce(0) { $0 + $1.bytes }
        bytesViaCache = results.filter(\.servedByCache).reduce(0) { $0 + $1.bytes }
        bytesViaOrigin = bytes - bytesViaCache
        firstResponseP50 = percentile(results.compactMap(\.firstResponseSeconds), 0.5)
    }
}

/// Runs viewers by a profile or a trace (also as a `Service`: `ecdn up --demo`).
public final class LoadGenerator: Service, Sendable {
    public let configuration: LoadConfiguration
    private let client: HTTPClient
    private let logger: Logger
    private let siteBases: [UInt32]
    private let router: HTTPURL
    private let finished = Mutex<[PlayerResult]>([])
    private let active = Atomic<Int>(0)

    /// - Throws: ``ControlError`` for a bad router URL or site prefix.
    public init(configuration: LoadConfiguration, group: any EventLoopGroup, logger: Logger) throws(ControlError) {
        self.configuration = configuration
        self.router = try HTTPURL(configuration.router)
        var bases: [UInt32] = []
        for prefix in configuration.sitePrefixes {
            guard let (network, _) = PrefixTable.parsePrefix(prefix[...]) else {
                throw ControlError(.badConfiguration, "site prefix '\(prefix)' is not A.B.C.D/LEN")
            }
            bases.append(network)
        }
        guard !bases.isEmpty else { throw ControlError(.badConfiguration, "give at least one site prefix to send viewers from") }
        self.siteBases = bases
        self.client = HTTPClient(group: group, connectTimeout: .seconds(2), timeout: .seconds(10))
        self.logger = logger
    }

    /// Viewers playing now.
    public var activeViewers: Int { active.load(ordering: .relaxed) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            _ = await self.generate()
        }
    }

    /// Runs the arrivals, waits for every viewer to leave, and reports.
    public func generate() async -> LoadReport {
        var random = RandomSource(seed: configuration.seed)
        let channels = WeightedChoice.zipf(count: configuration.channels, exponent: configuration.zipf)
        let start = HTTPDate.monotonic()
        var dropped = 0
        var serial = 0
        await withTaskGroup(of: Void.self) { group in
            func spawn(site: Int, channel: Int, watch: Double, bitrate: Int?) {
                guard active.load(ordering: .relaxed) < configuration.maxViewers else {
                    dropped += 1
                    return
                }
                serial += 1
                let address = PrefixTable.format(siteBases[site] &+ UInt32(100 + serial % 100))
                var playerConfiguration = configuration.player
                if let bitrate { playerConfiguration.bitrate = bitrate; playerConfiguration.variant = nil }
                let player = Player(
                    client: client, configuration: playerConfiguration, router: router, path: "/live/\(channel)/index.m3u8",
                    site: configuration.siteNames[site], channel: channel, address: address, watch: watch, runStart: start
                )
                active.add(1, ordering: .relaxed)
                group.addTask {
                    let result = await player.play()
                    self.active.subtract(1, ordering: .relaxed)
                    self.finished.withLock { $0.append(result) }
                }
            }
            if let trace = configuration.trace {
                let groups = Array(Set(trace.map(\.group))).sorted()
                let siteOf = Dictionary(uniqueKeysWithValues: groups.enumerated().map { ($1, $0 % siteBases.count) })
                for arrival in trace {
                    let at = arrival.arrival / configuration.traceSpeed
                    if let duration = configuration.duration, at > duration { break }
                    let delay = at - (HTTPDate.monotonic() - start)
                    if delay > 0 { try? await Task.sleep(for: .milliseconds(Int64(delay * 1000))) }
                    if Task.isCancelled { break }
                    let channel = 1 + ((arrival.content % configuration.channels) + configuration.channels) % configuration.channels
                    spawn(site: siteOf[arrival.group] ?? 0, channel: channel, watch: arrival.view / configuration.traceSpeed, bitrate: arrival.bitrate)
                }
            } else {
                let slice = 0.1
                while !Task.isCancelled {
                    let t = HTTPDate.monotonic() - start
                    if let duration = configuration.duration, t >= duration { break }
                    for (site, rate) in configuration.profile.rates(at: t).enumerated() where site < siteBases.count {
                        for _ in 0..<random.poisson(mean: rate * slice) {
                            let watch = configuration.watch.lowerBound + random.unit() * (configuration.watch.upperBound - configuration.watch.lowerBound)
                            spawn(site: site, channel: 1 + channels.draw(&random), watch: watch, bitrate: nil)
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(Int64(slice * 1000)))
                }
            }
            await group.waitForAll()
        }
        let results = finished.withLock { $0 }
        return LoadReport(results: results.sorted { $0.arrival < $1.arrival }, dropped: dropped)
    }
}
