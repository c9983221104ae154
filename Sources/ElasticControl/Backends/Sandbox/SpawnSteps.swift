import CSandbox

/// How long each step of one sandbox's start took, from the C helper's clock readings.
struct SpawnSteps: Sendable {
    /// Step names, in order (the keys of ``SandboxBackend/startProfile()`` and of the launch log's `STEP.ms`).
    static let names = ["address", "clone", "cgroups", "network", "mounts", "credentials", "execve"]

    /// Seconds per step, in the order of ``names``.
    var seconds: [Double]

    /// - Parameters:
    ///   - assigned: seconds spent giving a prepared namespace its address before the clone (0 without one).
    ///   - timing: the helper's readings (CLOCK_MONOTONIC nanoseconds).
    init(assigned: Double, timing: csandbox_timing) {
        let at = withUnsafeBytes(of: timing.at) { Array($0.bindMemory(to: Int64.self)) }
        func between(_ from: Int, _ to: Int) -> Double {
            let (a, b) = (at[from], at[to])
            return a > 0 && b >= a ? Double(b - a) / 1e9 : 0
        }
        seconds = [
            assigned,
            between(Int(CSANDBOX_AT_CLONE), Int(CSANDBOX_AT_CHILD)),
            between(Int(CSANDBOX_AT_CHILD), Int(CSANDBOX_AT_CGROUPS)),
            between(Int(CSANDBOX_AT_CGROUPS), Int(CSANDBOX_AT_NETWORK)),
            between(Int(CSANDBOX_AT_NETWORK), Int(CSANDBOX_AT_MOUNTS)),
            between(Int(CSANDBOX_AT_MOUNTS), Int(CSANDBOX_AT_EXECVE)),
            between(Int(CSANDBOX_AT_EXECVE), Int(CSANDBOX_AT_RETURN)),
        ]
    }
}
