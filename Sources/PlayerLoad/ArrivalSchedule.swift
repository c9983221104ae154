import Workload

/// The arrivals of a rate profile, slice by slice: each slice of ``slice`` seconds draws a
/// Poisson count per site from the seeded source, with each viewer's watch time and channel.
///
/// Slices are drawn by their number, not by the generator's wake-ups: a generator that wakes up
/// late (a busy machine, a cooperative thread pool held by other work) gets every slice begun
/// since, so its viewers come late but are never dropped, and a seed always gives the same
/// viewers.
package struct ArrivalSchedule: Sendable {
    /// One viewer to start.
    package struct Arrival: Sendable, Equatable {
        /// The slice it arrives in.
        package var slice: Int
        /// Index into the configuration's sites.
        package var site: Int
        /// The live channel, from 1.
        package var channel: Int
        /// Seconds it watches.
        package var watch: Double
    }

    /// Seconds per slice.
    package static let slice = 0.1

    private let profile: LoadProfile
    private let watch: ClosedRange<Double>
    private let sites: Int
    private let channels: WeightedChoice
    /// Slices that begin before the configuration's duration; nil: no end.
    private let sliceCount: Int?
    private var random: RandomSource
    /// Slices drawn so far.
    private var drawn = 0

    /// The schedule of `configuration`'s profile over its first `sites` sites.
    package init(configuration: LoadConfiguration, sites: Int) {
        self.profile = configuration.profile
        self.watch = configuration.watch
        self.sites = sites
        self.channels = WeightedChoice.zipf(count: configuration.channels, exponent: configuration.zipf)
        self.random = RandomSource(seed: configuration.seed)
        self.sliceCount = configuration.duration.map { duration in
            var count = 0
            while Double(count) * Self.slice < duration { count += 1 }
            return count
        }
    }

    /// Every slice is drawn (never, without a duration).
    package var isFinished: Bool { sliceCount.map { drawn >= $0 } ?? false }

    /// When the next slice begins, seconds from the start of the run.
    package var nextSliceStart: Double { Double(drawn) * Self.slice }

    /// The arrivals of the slices begun by `elapsed` seconds into the run and not drawn yet.
    package mutating func arrivals(through elapsed: Double) -> [Arrival] {
        var arrivals: [Arrival] = []
        while !isFinished, nextSliceStart <= elapsed {
            for (site, rate) in profile.rates(at: nextSliceStart).enumerated() where site < sites {
                for _ in 0..<random.poisson(mean: rate * Self.slice) {
                    let seconds = watch.lowerBound + random.unit() * (watch.upperBound - watch.lowerBound)
                    arrivals.append(Arrival(slice: drawn, site: site, channel: 1 + channels.draw(&random), watch: seconds))
                }
            }
            drawn += 1
        }
        return arrivals
    }
}
