import Foundation

/// The CPUs this process may run on.
enum CPUAffinity {
    /// How many CPUs the process's affinity mask allows (taskset, a cpuset), read from
    /// `/proc/self/status`; where it cannot be read, the CPUs online. At least 1.
    static var count: Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        {
            // A hex mask in comma-separated 32-bit groups: "00000000,00000003".
            let allowed = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, character in
                count + (character.hexDigitValue?.nonzeroBitCount ?? 0)
            }
            if allowed > 0 { return allowed }
        }
        return max(ProcessInfo.processInfo.activeProcessorCount, 1)
    }
}
