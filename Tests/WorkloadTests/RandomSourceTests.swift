import Testing
import Workload

struct RandomSourceTests {
    private func moments(_ draws: [Double]) -> (mean: Double, variance: Double) {
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(draws.count - 1)
        return (mean, variance)
    }

    @Test("gamma draws have mean kθ and variance kθ² for shapes below, at and above 1", arguments: [
        (0.3, 2.0), (1.0, 1.0), (2.5, 0.5), (40.0, 0.1),
    ])
    func gammaMoments(shape: Double, scale: Double) {
        var rng = RandomSource(seed: 7, stream: 1)
        let n = 200_000
        let draws = (0..<n).map { _ in rng.gamma(shape: shape, scale: scale) }
        #expect(draws.allSatisfy { $0 >= 0 && $0.isFinite })
        let (mean, variance) = moments(draws)
        let expectedMean = shape * scale
        let expectedVariance = shape * scale * scale
        // Five standard errors of the mean; the variance within 5 %.
        #expect(abs(mean - expectedMean) < 5 * (expectedVariance / Double(n)).squareRoot())
        #expect(abs(variance / expectedVariance - 1) < 0.05)
    }

    @Test("a tiny shape (CDNSim's gap at 3,333 arrivals/s) keeps its mean and gives mostly near-zero gaps")
    func tinyShape() {
        var rng = RandomSource(seed: 3)
        let shape = 0.0003
        let n = 1_000_000
        let draws = (0..<n).map { _ in rng.gamma(shape: shape) }
        #expect(draws.allSatisfy { $0 >= 0 && $0.isFinite })
        let (mean, _) = moments(draws)
        // The mean rests on rare large gaps (variance 0.0003): a 25 % band is ~4 standard errors.
        #expect(abs(mean / shape - 1) < 0.25)
        #expect(draws.filter { $0 < 1e-9 }.count > n * 9 / 10)
    }

    @Test("normal draws have mean 0 and variance 1")
    func normalMoments() {
        var rng = RandomSource(seed: 11)
        let (mean, variance) = moments((0..<200_000).map { _ in rng.normal() })
        #expect(abs(mean) < 0.015)
        #expect(abs(variance - 1) < 0.02)
    }

    @Test("the same seed and stream give the same draws; another stream differs")
    func determinism() {
        var a = RandomSource(seed: 5, stream: 2)
        var b = RandomSource(seed: 5, stream: 2)
        var c = RandomSource(seed: 5, stream: 3)
        let x = (0..<100).map { _ in a.gamma(shape: 0.7) }
        #expect(x == (0..<100).map { _ in b.gamma(shape: 0.7) })
        #expect(x != (0..<100).map { _ in c.gamma(shape: 0.7) })
    }
}
