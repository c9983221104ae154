import HTTPToolkit
import Workload
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Runs viewers by a profile or a trace (also as a `Service`: `ecdn up --demo`).
public final class LoadGenerator: Service, Sendable {
    public let configuration: LoadConfiguration
    private let client: ViewerClient
    private let logger: Logger
    private let siteBases: [UInt32]
    private let router: HTTPURL
    private let finished = Mutex<[PlayerResult]>([])
    private let active = Atomic<Int>(0)
    private let started = Atomic<Int>(0)

    /// - Throws: ``LoadError`` for a bad router URL, site prefix or CA file.
    public init(configuration: LoadConfiguration, group: any EventLoopGroup, logger: Logger) throws(LoadError) {
        self.configuration = configuration
        self.router = try Player.parse(configuration.router)
        var bases: [UInt32] = []
        for prefix in configuration.sitePrefixes {
            guard let (network, _) = IPv4.parsePrefix(prefix[...]) else {
                throw LoadError(.badConfiguration, "site prefix '\(prefix)' is not A.B.C.D/LEN")
            }
            bases.append(network)
        }
        guard !bases.isEmpty else { throw LoadError(.badConfiguration, "give at least one site prefix to send viewers from") }
        self.siteBases = bases
        let tls: NIOSSLContext?
        do {
            tls = try configuration.caFile.map { file throws(TLSFilesError) in try TLSFiles.clientContext(trusting: file) }
        } catch {
            throw LoadError(.badConfiguration, error.message, underlying: error)
        }
        self.client = ViewerClient(group: group, connectTimeout: .seconds(2), timeout: .seconds(10), tls: tls)
        self.logger = logger
    }

    /// Viewers playing now.
    public var activeViewers: Int { active.load(ordering: .relaxed) }

    /// Viewers started so far (dropped arrivals not counted).
    public var startedViewers: Int { started.load(ordering: .relaxed) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            _ = await self.generate()
        }
    }

    /// Runs the arrivals, waits for every viewer to leave, and reports.
    public func generate() async -> LoadReport {
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
                let address = IPv4.format(siteBases[site] &+ UInt32(100 + serial % 100))
                var playerConfiguration = configuration.player
                if let bitrate { playerConfiguration.bitrate = bitrate; playerConfiguration.variant = nil }
                let player = Player(
                    client: client, configuration: playerConfiguration, router: router, path: "/live/\(channel)/index.m3u8",
                    site: configuration.siteNames[site], channel: channel, address: address, watch: watch, runStart: start
                )
                active.add(1, ordering: .relaxed)
                started.add(1, ordering: .relaxed)
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
                var schedule = ArrivalSchedule(configuration: configuration, sites: siteBases.count)
                while !Task.isCancelled {
                    for arrival in schedule.arrivals(through: HTTPDate.monotonic() - start) {
                        spawn(site: arrival.site, channel: arrival.channel, watch: arrival.watch, bitrate: nil)
                    }
                    if schedule.isFinished { break }
                    let wait = schedule.nextSliceStart - (HTTPDate.monotonic() - start)
                    if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64((wait * 1000).rounded(.up)))) }
                }
            }
            await group.waitForAll()
        }
        let results = finished.withLock { $0 }
        return LoadReport(results: results.sorted { $0.arrival < $1.arrival }, dropped: dropped)
    }
}
