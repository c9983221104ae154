#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// xoshiro256** seeded through SplitMix64: the only source of randomness of the simulator and
/// the load generator, so the same seed gives the same run on every machine.
package struct RandomSource: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    package init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    /// An independent stream for a named purpose, so that adding draws to one part of the model
    /// does not shift the others.
    package init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ (stream &+ 0x632B_E59B_D9B4_E019))
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    package mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1).
    package mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Exponential with the given rate.
    package mutating func exponential(rate: Double) -> Double {
        -log(1 - unit()) / rate
    }

    /// Triangular on [low, high] with the given mode.
    package mutating func triangular(low: Double, mode: Double, high: Double) -> Double {
        let u = unit()
        let split = (mode - low) / (high - low)
        if u < split {
            return low + ((high - low) * (mode - low) * u).squareRoot()
        }
        return high - ((high - low) * (high - mode) * (1 - u)).squareRoot()
    }

    /// Standard normal (Box–Muller; one of the pair is dropped so that draws stay independent of
    /// call order).
    package mutating func normal() -> Double {
        let u = 1 - unit()
        let v = unit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Gamma with the given shape `k > 0` and scale `θ > 0`: mean `kθ`, variance `kθ²`
    /// (Marsaglia and Tsang 2000; for `k < 1` a draw at `k + 1` times `U^(1/k)`).
    package mutating func gamma(shape k: Double, scale θ: Double = 1) -> Double {
        precondition(k > 0 && θ > 0, "gamma needs a positive shape and scale")
        if k < 1 {
            // Computed in logarithms: for tiny shapes U^(1/k) underflows to 0 in one step.
            let g = gamma(shape: k + 1, scale: 1)
            let u = 1 - unit()
            return exp(log(g) + log(u) / k) * θ
        }
        let d = k - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0
            var v = 0.0
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = 1 - unit()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) {
                return d * v * θ
            }
        }
    }

    /// Poisson with the given mean (Knuth's method; the model uses small means).
    package mutating func poisson(mean: Double) -> Int {
        let limit = exp(-mean)
        var k = 0
        var p = unit()
        while p > limit {
            k += 1
            p *= unit()
        }
        return k
    }
}
