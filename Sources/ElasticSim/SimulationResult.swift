/// What one scenario run measured.
public struct SimulationResult: Sendable {
    public var name: String
    public var topology: String
    public var seed: UInt64
    public var duration: Double
    /// Viewers that arrived during the run (warm-start viewers excluded).
    public var viewers: Int
    public var warmViewers: Int
    /// Viewers whose playback had not started at the end (their start-up delay is counted as
    /// the time they waited).
    public var viewersNotStarted: Int
    public var startupDelays: [Double]
    public var bufferingRatios: [Double]
    public var stallCounts: [Int]
    public var bitrates: [Double]
    /// Bytes that left the origin (viewer streams and cache fills).
    public var originEgressBytes: Double
    /// Bytes caches delivered to viewers.
    public var cacheServedBytes: Double
    /// Bytes delivered to viewers.
    public var viewerBytes: Double
    /// Byte-hops on AS links touching an access AS, and on core links.
    public var accessLinkBytes: Double
    public var coreLinkBytes: Double
    /// Bytes of background traffic (`workload.backgroundStreams`), not counted above.
    public var backgroundBytes: Double = 0
    /// Instance-seconds, boots and peak of the capacity model: a site runs as many instances as
    /// its load needs (elastic), or as many as its peak needed for the whole run (static).
    public var instanceSeconds: Double
    public var instanceStarts: Int
    public var peakInstances: Int
    /// Seconds summed over sites while they ran at least one instance.
    public var siteSeconds: Double
    /// The per-content instances the cache policy starts and stops (CDNSim's VMs).
    public var contentInstanceSeconds: Double
    public var contentInstanceStarts: Int
    public var peakContentInstances: Int
    public var cost: Cost
    /// VoD with finite storage: requests at caches, and those served from storage.
    public var objectRequests: Int
    public var objectHits: Int
    public var objectBytes: Double
    public var objectHitBytes: Double
    /// Miss ratios of each eviction policy at several storage sizes, on this run's requests.
    public var missRatioCurves: [MissRatioPoint]
    public var sites: [Site]

    /// One point of a miss-ratio curve.
    public struct MissRatioPoint: Sendable {
        /// Bytes of storage per cache.
        public var storage: Double
        /// `lru`, `s3fifo` or `sieve`.
        public var policy: String
        /// Share of requests that missed.
        public var missRatio: Double
        /// Share of requested bytes that missed.
        public var byteMissRatio: Double
    }

    /// What the run costs under the scenario's prices (``Scenario/CostConfig``).
    public struct Cost: Sendable {
        public var sites: Double
        public var instances: Double
        public var memory: Double
        public var boots: Double
        public var transit: Double
        public var total: Double { sites + instances + memory + boots + transit }
    }
    public var series: [Sample]
    public var events: Int
    public var flowRecomputations: Int
    public var wallSeconds: Double
    public var trace: [TraceRow]?

    /// Per-AS cache figures.
    public struct Site: Sendable {
        public var asn: Int
        /// The most instances the site needed (capacity model).
        public var peakInstances: Int
        /// The most per-content instances at once.
        public var peakContentInstances: Int
        public var peakConnections: Int
        /// Bits per second served to viewers and downstream caches (exact, not sampled).
        public var peakThroughput: Double
        /// Instances booted here (capacity model).
        public var instanceStarts: Int
        /// Per-content instances started here over the run (what CDNSim reports as the AS's
        /// peak VMs: its counter is never decremented).
        public var contentInstanceStarts: Int
    }

    /// One point of the time series.
    public struct Sample: Sendable {
        public var time: Double
        public var viewers: Int
        public var stalled: Int
        public var instances: Int
        /// Bits per second.
        public var originEgress: Double
        public var cacheServed: Double
    }

    /// One arrival, for replay by a load generator.
    public struct TraceRow: Sendable {
        public var arrival: Double
        public var asn: Int
        public var content: Int
        /// Bits per second.
        public var bitrate: Double
        public var viewSeconds: Double
    }
}

extension SimulationResult {
    /// The `p`-quantile (0...1) by linear interpolation; 0 for no data.
    public static func quantile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let x = p * Double(sorted.count - 1)
        let i = Int(x)
        let frac = x - Double(i)
        return i + 1 < sorted.count ? sorted[i] + (sorted[i + 1] - sorted[i]) * frac : sorted[i]
    }

    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    public var startupDelayP50: Double { Self.quantile(startupDelays, 0.5) }
    public var startupDelayP95: Double { Self.quantile(startupDelays, 0.95) }
    public var bufferingRatioMean: Double { Self.mean(bufferingRatios) }
    public var bufferingRatioP95: Double { Self.quantile(bufferingRatios, 0.95) }
    /// Share of viewer bytes that did not come from the origin.
    public var cacheHitRatio: Double { viewerBytes > 0 ? cacheServedBytes / viewerBytes : 0 }
}

extension Simulation {
    func takeSample() {
        var origin = 0.0
        var cache = 0.0
        for g in groupInfo.indices where net.flows(Int32(g)) > 0 && groupInfo[g].kind != .background {
            let bits = net.rate(Int32(g)) * Double(net.flows(Int32(g))) * 8
            let source = Int(groupInfo[g].source)
            if source == topology.origin {
                origin += bits
            } else if groupInfo[g].kind == .viewer {
                cache += bits
            }
        }
        series.append(SimulationResult.Sample(
            time: now, viewers: activeViewers, stalled: stalledViewers, instances: runningPhysical,
            originEgress: origin, cacheServed: cache))
        let next = now + scenario.sampleInterval
        if next <= scenario.duration { schedule(.sample, at: next) }
    }

    func finish(wallSeconds: Double) -> SimulationResult {
        var originBytes = 0.0
        var cacheBytes = 0.0
        var viewerBytes = 0.0
        var accessBytes = 0.0
        var coreBytes = 0.0
        var backgroundBytes = 0.0
        for g in groupInfo.indices {
            net.flush(g, now: now)
            let bytes = net.bytes(Int32(g))
            guard bytes > 0 else { continue }
            guard groupInfo[g].kind != .background else {
                backgroundBytes += bytes
                continue
            }
            let source = Int(groupInfo[g].source)
            if source == topology.origin { originBytes += bytes }
            if groupInfo[g].kind == .viewer {
                viewerBytes += bytes
                if source != topology.origin { cacheBytes += bytes }
            }
            for l in net.links(Int32(g)) where Int(l) < topology.count {
                if topology.uplinkIsAccess[Int(l)] { accessBytes += bytes } else { coreBytes += bytes }
            }
        }
        for id in instances.indices where instances[id].live {
            instanceSeconds += now - instances[id].started
        }
        closeCapacity()
        let prices = scenario.cost
        let memoryGiB = scenario.caches.instanceSize.memoryMiB / 1024
        let cost = SimulationResult.Cost(
            sites: siteSeconds / 3600 * prices.siteHour,
            instances: physicalSeconds / 3600 * prices.instanceHour,
            memory: physicalSeconds / 3600 * memoryGiB * prices.memoryGiBHour,
            boots: Double(physicalBoots) * prices.boot,
            transit: originBytes / 1e9 * prices.transitGB)
        var notStarted = 0
        for v in viewers.indices where viewers[v].phase != .gone && !viewers[v].warm {
            let viewer = viewers[v]
            if viewer.started {
                recordQoE(viewer)
            } else {
                notStarted += 1
                startupDelays.append(now - viewer.arrival)
                if scenario.model == .cdnsim {
                    bufferingRatios.append(Self.cdnsimBufferingRatio(buffering: now - viewer.arrival, play: viewer.total / viewer.bitrate))
                }
                stallCounts.append(0)
                viewerBitrates.append(scenario.workload.bitrates[Int(viewer.bitrateIndex)])
            }
        }
        let sites = (0..<topology.count).filter { sitePeakInstances[$0] > 0 || pools[$0].peak > 0 }.map {
            SimulationResult.Site(
                asn: topology.asn[$0], peakInstances: pools[$0].peak, peakContentInstances: sitePeakInstances[$0],
                peakConnections: sitePeakConnections[$0], peakThroughput: siteLoad[$0].peakThroughput,
                instanceStarts: pools[$0].boots, contentInstanceStarts: siteStarts[$0])
        }
        var result = SimulationResult(
            name: scenario.name, topology: topology.label, seed: scenario.seed, duration: now,
            viewers: arrivals, warmViewers: warmViewers, viewersNotStarted: notStarted,
            startupDelays: startupDelays, bufferingRatios: bufferingRatios, stallCounts: stallCounts,
            bitrates: viewerBitrates, originEgressBytes: originBytes, cacheServedBytes: cacheBytes,
            viewerBytes: viewerBytes, accessLinkBytes: accessBytes, coreLinkBytes: coreBytes,
            instanceSeconds: physicalSeconds, instanceStarts: physicalBoots, peakInstances: peakPhysical,
            siteSeconds: siteSeconds, contentInstanceSeconds: instanceSeconds, contentInstanceStarts: instanceStarts,
            peakContentInstances: peakInstances, cost: cost,
            objectRequests: objectRequests, objectHits: objectHits, objectBytes: objectBytes, objectHitBytes: objectHitBytes,
            missRatioCurves: missRatioCurves(),
            sites: sites, series: series, events: eventCount, flowRecomputations: net.recomputations,
            wallSeconds: wallSeconds, trace: trace)
        result.backgroundBytes = backgroundBytes
        return result
    }
}
