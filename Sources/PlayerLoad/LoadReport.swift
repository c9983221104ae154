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
    /// Segments that failed the players' MPEG-TS check.
    public var badSegments: Int
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
        badSegments = results.reduce(0) { $0 + $1.badSegments }
        bytes = results.reduce(0) { $0 + $1.bytes }
        bytesViaCache = results.filter(\.servedByCache).reduce(0) { $0 + $1.bytes }
        bytesViaOrigin = bytes - bytesViaCache
        firstResponseP50 = percentile(results.compactMap(\.firstResponseSeconds), 0.5)
    }
}
