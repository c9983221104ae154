#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// How many cache instances of one backend fit on this host, and how fast they start: the
/// density benchmark behind `ecdn density` and `scripts/bench-density.sh`.
public struct DensityBenchmark: Sendable {
    /// Instances to start at once.
    public var instances: Int
    /// Single instances started one after another on the idle host first, for spawn -> ready.
    public var singleStarts: Int
    /// Launches in flight at once during the mass start.
    public var concurrency: Int
    /// Instance addresses are this (dotted IPv4) plus 0, 1, 2, ... (each instance has its own address).
    public var firstAddress: String

    public init(instances: Int, singleStarts: Int = 20, concurrency: Int = 64, firstAddress: String = "127.64.0.10") {
        self.instances = instances
        self.singleStarts = singleStarts
        self.concurrency = concurrency
        self.firstAddress = firstAddress
    }

    /// What one run measured.
    public struct Report: Sendable, Codable {
        public var backend: String
        public var instances: Int
        /// Instances whose admin listener answered `GET /admin/status` with 200 while all ran.
        public var serving: Int
        /// Proportional set size of the instances' processes, summed, divided by the instances.
        public var pssPerInstanceMiB: Double
        /// The host's used memory (MemTotal - MemAvailable) before the start and with all running.
        public var hostUsedBeforeMiB: Double
        public var hostUsedAllRunningMiB: Double
        public var hostUsedAfterStopMiB: Double
        /// Instances ready divided by the time from the first launch to the last ready.
        public var startsPerSecond: Double
        /// Seconds from the first launch to the last instance ready.
        public var allReadySeconds: Double
        /// Launch -> ready of each instance during the mass start.
        public var massSpawnToReadyP50Milliseconds: Double
        public var massSpawnToReadyP99Milliseconds: Double
        /// Launch -> ready of single instances on the idle host (the start-up time a viewer waits for).
        public var spawnToReadyP50Milliseconds: Double
        public var spawnToReadyP90Milliseconds: Double
        /// Longest a 10 ms sleep overslept while the instances started, served and stopped.
        public var maxStallMilliseconds: Double
        public var stopSeconds: Double
        public var failures: [String]
        public var loadBefore: String
        public var loadAfter: String

        /// The line scripts read: `serving S/N; pss_per_instance_mib X; starts_per_s Y; spawn_to_ready_p50_ms Z`.
        public var summaryLine: String {
            "serving \(serving)/\(instances); pss_per_instance_mib \(Self.format(pssPerInstanceMiB, 2)); "
                + "starts_per_s \(Self.format(startsPerSecond, 1)); spawn_to_ready_p50_ms \(Self.format(spawnToReadyP50Milliseconds, 2))"
        }

        /// The report as a two-column table.
        public var table: String {
            let f = DensityBenchmark.format
            let rows: [(String, String)] = [
                ("instances serving", "\(serving)/\(instances)"),
                ("PSS per instance", "\(f(pssPerInstanceMiB)) MiB"),
                ("host used memory: before / all running / after stop", "\(Int(hostUsedBeforeMiB)) / \(Int(hostUsedAllRunningMiB)) / \(Int(hostUsedAfterStopMiB)) MiB"),
                ("host memory per running instance", "\(f((hostUsedAllRunningMiB - hostUsedBeforeMiB) / Double(max(1, instances)))) MiB"),
                ("time to all ready", "\(f(allReadySeconds)) s"),
                ("starts per second (ready / time to all ready)", f(startsPerSecond)),
                ("mass start: launch -> ready p50 / p99", "\(f(massSpawnToReadyP50Milliseconds)) / \(f(massSpawnToReadyP99Milliseconds)) ms"),
                ("one instance on the idle host: spawn -> ready p50 / p90", "\(f(spawnToReadyP50Milliseconds)) / \(f(spawnToReadyP90Milliseconds)) ms"),
                ("host responsive: worst 10 ms sleep overshoot", "\(f(maxStallMilliseconds)) ms"),
                ("stop all", "\(f(stopSeconds)) s"),
                ("load average before / after", "\(loadBefore) / \(loadAfter)"),
            ]
            return rows.map { $0.0.padding(toLength: 56, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
        }

        static func format(_ value: Double, _ digits: Int) -> String {
            String(format: "%.\(digits)f", value)
        }
    }

    /// Runs the benchmark on `backend` (which must be idle); `progress` gets one line per phase.
    public func run(backend: any SiteBackend, kind: String, progress: @Sendable (String) -> Void = { _ in }) async -> Report {
        let base = PrefixTable.parseIPv4(firstAddress[...]) ?? 0x7F40_000A
        let tally = Tally()
        func spec(_ i: Int, _ prefix: String) -> InstanceSpec {
            let address = PrefixTable.format(base &+ UInt32(i))
            return InstanceSpec(id: "\(prefix)\(i)", site: "density", tenant: "t\(i % 16)", address: address, port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9")
        }
        // A backend that boots slowly (a microVM under TCG) says how long to wait.
        let slowBoot = backend.readyTimeout(forSite: "density") ?? 0
        // A guest under TCG on a busy host answers its first request seconds after it accepts.
        let requestTimeout: Int64 = slowBoot > 0 ? 30 : 5
        let client = HTTPClient(group: MultiThreadedEventLoopGroup.singleton, connectTimeout: .seconds(requestTimeout / 2), timeout: .seconds(requestTimeout))
        let loadBefore = Self.loadAverage()
        let stall = StallMeter()

        // 1. Single starts on the idle host.
        var singles: [Double] = []
        for i in 0..<singleStarts {
            let s = spec(i, "single-")
            let t0 = HTTPDate.monotonic()
            do {
                try await backend.launch(s)
                if let ready = await Self.waitReady(backend, s.id, timeout: max(10, slowBoot)) { singles.append((ready - t0) * 1000) }
            } catch {
                tally.failures.withLock { $0.append("single \(s.id): \(error)") }
            }
            await backend.terminate(s.id, grace: 2)
        }
        progress("single starts: spawn -> ready p50 \(Self.format(Self.percentile(singles, 0.5))) ms, p90 \(Self.format(Self.percentile(singles, 0.9))) ms (\(singles.count) of \(singleStarts))")

        // 2. All at once.
        let usedBefore = Self.hostUsedMiB()
        let ids = (0..<instances).map { spec($0, "i-") }
        let start = HTTPDate.monotonic()
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let s = ids[next]
                next += 1
                group.addTask {
                    let t0 = HTTPDate.monotonic()
                    do {
                        try await backend.launch(s)
                        tally.launchedAt.withLock { $0[s.id] = t0 }
                        if let ready = await Self.waitReady(backend, s.id, timeout: max(60, slowBoot)) {
                            tally.readyAt.withLock { $0[s.id] = ready }
                        } else {
                            tally.failures.withLock { $0.append("\(s.id): not ready (\(backend.probe(s.id)))") }
                        }
                    } catch {
                        tally.failures.withLock { $0.append("\(s.id): \(error)") }
                    }
                }
            }
            while next < min(concurrency, ids.count) { add() }
            while await group.next() != nil {
                if next < ids.count { add() }
                let done = tally.readyAt.withLock { $0.count }
                if done > 0, done % 100 == 0 { progress("ready: \(done)/\(instances)") }
            }
        }
        let ready = tally.readyAt.withLock { $0 }
        let launched = tally.launchedAt.withLock { $0 }
        let lastReady = ready.values.max() ?? start
        let allReady = lastReady - start
        let mass = ready.compactMap { id, t in launched[id].map { (t - $0) * 1000 } }
        progress("all at once: \(ready.count)/\(instances) ready in \(Self.format(allReady)) s")

        // 3. Every instance answers; memory with all of them running.
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let s = ids[next]
                next += 1
                group.addTask {
                    do {
                        _ = try await AdminClient(base: try HTTPURL(s.adminURL), client: client.client, timeout: client.timeout).status()
                        tally.serving.add(1, ordering: .relaxed)
                    } catch {
                        tally.failures.withLock { $0.append("\(s.id): GET /admin/status: \(error)") }
                    }
                }
            }
            while next < min(32, ids.count) { add() }
            while await group.next() != nil {
                if next < ids.count { add() }
            }
        }
        let usedRunning = Self.hostUsedMiB()
        let pss = ids.compactMap { backend.pid(of: $0.id) }.reduce(0.0) { $0 + Self.pssMiB(of: $1) }
        progress("serving: \(tally.serving.load(ordering: .relaxed))/\(instances); PSS \(Self.format(pss / Double(max(1, instances)))) MiB per instance")

        // 4. Stop them all.
        let stopStart = HTTPDate.monotonic()
        await backend.terminateAll(grace: 5)
        let stopSeconds = HTTPDate.monotonic() - stopStart
        let usedAfter = Self.hostUsedMiB()
        let stalled = stall.finish()
        progress("stopped in \(Self.format(stopSeconds)) s")

        return Report(
            backend: kind, instances: instances, serving: tally.serving.load(ordering: .relaxed),
            pssPerInstanceMiB: pss / Double(max(1, instances)),
            hostUsedBeforeMiB: usedBefore, hostUsedAllRunningMiB: usedRunning, hostUsedAfterStopMiB: usedAfter,
            startsPerSecond: allReady > 0 ? Double(ready.count) / allReady : 0, allReadySeconds: allReady,
            massSpawnToReadyP50Milliseconds: Self.percentile(mass, 0.5), massSpawnToReadyP99Milliseconds: Self.percentile(mass, 0.99),
            spawnToReadyP50Milliseconds: Self.percentile(singles, 0.5), spawnToReadyP90Milliseconds: Self.percentile(singles, 0.9),
            maxStallMilliseconds: stalled, stopSeconds: stopSeconds, failures: tally.failures.withLock { $0 },
            loadBefore: loadBefore, loadAfter: Self.loadAverage()
        )
    }

    /// What the concurrent launches and requests record.
    private final class Tally: Sendable {
        let readyAt = Mutex<[String: Double]>([:])
        let launchedAt = Mutex<[String: Double]>([:])
        let failures = Mutex<[String]>([])
        let serving = Atomic<Int>(0)
    }

    /// Probes `id` as the controller does (woken by the backend's ready signal when it has one);
    /// the monotonic time it turned ready, or nil.
    static func waitReady(_ backend: any SiteBackend, _ id: String, timeout: Double) async -> Double? {
        let start = HTTPDate.monotonic()
        while HTTPDate.monotonic() < start + timeout {
            switch backend.probe(id) {
            case .ready: return HTTPDate.monotonic()
            case .exited: return nil
            case .booting: await backend.pauseWhileStarting(id, elapsed: HTTPDate.monotonic() - start)
            }
        }
        return nil
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }

    static func pssMiB(of pid: Int32) -> Double {
        guard let text = HostFile.read("/proc/\(pid)/smaps_rollup") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("Pss:") {
            let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
            return kib / 1024
        }
        return 0
    }

    static func hostUsedMiB() -> Double {
        var fields: [String: Double] = [:]
        for line in (HostFile.read("/proc/meminfo") ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let value = Double(parts[1]) { fields[String(parts[0].dropLast())] = value }
        }
        return ((fields["MemTotal"] ?? 0) - (fields["MemAvailable"] ?? 0)) / 1024
    }

    /// The 1, 5 and 15 minute load averages.
    public static func loadAverage() -> String {
        (HostFile.read("/proc/loadavg") ?? "").split(separator: " ").prefix(3).joined(separator: " ")
    }
}

/// A thread that sleeps 10 ms at a time and keeps the worst oversleep: how long the host left a
/// runnable thread waiting.
final class StallMeter: Sendable {
    private let worst = Mutex<Double>(0)
    private let running = Atomic<Bool>(true)
    private let done = Atomic<Bool>(false)

    init() {
        Thread.detachNewThread { [self] in
            while running.load(ordering: .relaxed) {
                let t0 = HTTPDate.monotonic()
                usleep(10_000)
                let late = (HTTPDate.monotonic() - t0) * 1000 - 10
                worst.withLock { $0 = max($0, late) }
            }
            done.store(true, ordering: .releasing)
        }
    }

    /// Stops the thread; the worst oversleep in milliseconds.
    func finish() -> Double {
        running.store(false, ordering: .relaxed)
        while !done.load(ordering: .acquiring) { usleep(1000) }
        return worst.withLock { $0 }
    }
}
