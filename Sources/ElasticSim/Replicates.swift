#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs of one scenario with different seeds (`--seeds N`), and the statistics over them.
public struct Replicates: Sendable {
    /// The runs, first seed first.
    public var runs: [SimulationResult]

    public init(runs: [SimulationResult]) {
        precondition(!runs.isEmpty, "replicates need at least one run")
        self.runs = runs
    }

    public var name: String { runs[0].name }
    /// The run of the first seed (the charts of the report show it).
    public var first: SimulationResult { runs[0] }

    /// Consecutive results with the same name, in order (what ``Sweep/run(progress:)`` returns
    /// with several seeds per scenario).
    public static func group(_ results: [SimulationResult]) -> [Replicates] {
        var groups: [Replicates] = []
        for r in results {
            if let last = groups.last, last.name == r.name {
                groups[groups.count - 1].runs.append(r)
            } else {
                groups.append(Replicates(runs: [r]))
            }
        }
        return groups
    }

    /// Mean and half-width of the 95 % confidence interval of `values` (Student's t with
    /// n - 1 degrees of freedom; 0 for a single value).
    public static func meanAndCI95(_ values: [Double]) -> (mean: Double, halfWidth: Double) {
        guard !values.isEmpty else { return (0, 0) }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, tQuantile975(degreesOfFreedom: values.count - 1) * (variance / n).squareRoot())
    }

    /// The 0.975 quantile of Student's t distribution.
    public static func tQuantile975(degreesOfFreedom df: Int) -> Double {
        precondition(df >= 1)
        let table: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
            2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
            2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ]
        if df <= table.count { return table[df - 1] }
        // Cornish–Fisher expansion around the normal quantile; below 1e-4 off from df 30 on.
        let z = 1.959964
        let v = Double(df)
        return z + (z * z * z + z) / (4 * v) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v)
    }
}
