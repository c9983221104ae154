#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import SHFS

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure how fast this machine opens a volume and looks objects up (see scripts/bench-shfs.sh)."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Option(help: "How many times to open the volume (the median is reported).")
    var opens: Int = 15

    @Option(help: "How many digest lookups to time.")
    var lookups: Int = 20_000_000

    func run() throws {
        var times: [Double] = []
        var cpuTimes: [Double] = []
        var v = try Volume(path: volume)
        for _ in 0..<max(1, opens) {
            let t0 = Output.now(), c0 = cpu()
            v = try Volume(path: volume)
            times.append(Output.now() - t0)
            cpuTimes.append(cpu() - c0)
        }
        times.sort()
        cpuTimes.sort()
        print("open: \(v.entries.count) entries, \(v.header.slotCount) slots, median \(ms(times[times.count / 2])) ms wall (min \(ms(times[0])), max \(ms(times[times.count - 1]))), median \(ms(cpuTimes[cpuTimes.count / 2])) ms CPU, over \(times.count) opens")

        let digests = v.entries.map(\.digest)
        guard !digests.isEmpty else { return }
        var misses = digests.map { d in d.map { ~$0 } }
        misses = misses.filter { v.entry(digest: $0) == nil }
        var found = 0
        let t0 = Output.now(), c0 = cpu()
        var i = 0
        for _ in 0..<lookups {
            if v.entry(digest: digests[i]) != nil { found += 1 }
            i += 1
            if i == digests.count { i = 0 }
        }
        let hitTime = Output.now() - t0, hitCPU = cpu() - c0
        let hexes = digests.prefix(100_000).map { String(decoding: $0.flatMap { b in Array(hexByte(b)) }, as: UTF8.self) }
        let hexCount = min(lookups, 2_000_000)
        let t1 = Output.now()
        i = 0
        for _ in 0..<hexCount {
            if v.entry(hexDigest: hexes[i]) != nil { found += 1 }
            i += 1
            if i == hexes.count { i = 0 }
        }
        let hexTime = Output.now() - t1
        var missFound = 0
        let t2 = Output.now()
        if !misses.isEmpty {
            i = 0
            for _ in 0..<lookups {
                if v.entry(digest: misses[i]) != nil { missFound += 1 }
                i += 1
                if i == misses.count { i = 0 }
            }
        }
        let missTime = Output.now() - t2
        print("lookup by digest (hit): \(rate(lookups, hitTime)) million/s wall, \(rate(lookups, hitCPU)) million/s CPU, over \(lookups) lookups")
        if !misses.isEmpty { print("lookup by digest (miss): \(rate(lookups, missTime)) million/s") }
        print("lookup by hex digest (hit): \(rate(hexCount, hexTime)) million/s")
        if found != lookups + hexCount || missFound != 0 { throw SHFSError(.corruptVolume, "lookup self-check failed") }
    }

    /// CPU time of this thread: unlike wall time, not inflated when other processes share the cores.
    private func cpu() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func ms(_ s: Double) -> String { "\(Double(Int(s * 100_000)) / 100)" }
    private func rate(_ n: Int, _ s: Double) -> String { "\(Double(Int(Double(n) / s / 1e4)) / 100)" }
    private func hexByte(_ b: UInt8) -> [UInt8] {
        let d = Array("0123456789abcdef".utf8)
        return [d[Int(b >> 4)], d[Int(b & 15)]]
    }
}
