#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Draws an index with probability proportional to precomputed weights (cumulative table,
/// binary search).
package struct WeightedChoice: Sendable {
    private let cumulative: [Double]

    package init(weights: [Double]) {
        var sum = 0.0
        cumulative = weights.map { sum += $0; return sum }
    }

    /// Zipf weights 1/k^exponent for k = 1...count.
    package static func zipf(count: Int, exponent: Double) -> WeightedChoice {
        WeightedChoice(weights: (1...max(count, 1)).map { 1 / pow(Double($0), exponent) })
    }

    package func draw(_ rng: inout RandomSource) -> Int {
        let x = rng.unit() * (cumulative.last ?? 0)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > x { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
