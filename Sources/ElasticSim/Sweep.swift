import Foundation
import Synchronization

/// Runs several scenarios, in parallel on all cores; each scenario runs single-threaded, so
/// results do not depend on the number of cores or the order of completion.
public struct Sweep: Sendable {
    public var scenarios: [Scenario]
    /// Runs of each scenario, with seeds `seed`, `seed + 1`, ... (default 1).
    public var seeds: Int
    /// Record every arrival for replay (``SimulationResult/trace``).
    public var recordTrace: Bool
    /// Scenarios run at once (default: the number of active cores).
    public var parallelism: Int

    public init(scenarios: [Scenario], seeds: Int = 1, recordTrace: Bool = false, parallelism: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.scenarios = scenarios
        self.seeds = max(1, seeds)
        self.recordTrace = recordTrace
        self.parallelism = max(1, parallelism)
    }

    /// Every run: each scenario once per seed, the seeds of a scenario next to each other.
    public var runs: [Scenario] {
        scenarios.flatMap { scenario in
            (0..<seeds).map { k in
                var run = scenario
                run.seed = scenario.seed &+ UInt64(k)
                return run
            }
        }
    }

    /// The progress of one run (an index into ``runs``).
    public struct Progress: Sendable {
        public var scenario: Int
        public var simulatedTime: Double
        public var events: Int
    }

    /// Loads each distinct topology once.
    public func loadTopologies() throws(SimulationError) -> [Topology] {
        var cache: [String: Topology] = [:]
        var result: [Topology] = []
        for scenario in runs {
            let t = scenario.topology
            let key = "\(t.source)|\(t.dataDirectory ?? "")|\(t.minDaysSeen)|\(t.routing)|\(t.accessLinkCapacity)|\(t.coreLinkCapacity)|\(scenario.seed)"
            if let topology = cache[key] {
                result.append(topology)
                continue
            }
            let topology: Topology
            switch t.source {
            case .country(let cc):
                guard let data = t.dataDirectory else {
                    throw SimulationError(.missingFile, "--data", "no topology data folder: pass --data DIR (the folder holding as_links.tsv and \(cc).tsv)")
                }
                topology = try Topology.load(
                    country: cc, dataDirectory: data, minDaysSeen: t.minDaysSeen, routing: t.routing,
                    accessLinkCapacity: t.accessLinkCapacity, coreLinkCapacity: t.coreLinkCapacity)
            case .tree(let fanout, let depth):
                topology = Topology.syntheticTree(
                    fanout: fanout, depth: depth, seed: scenario.seed,
                    accessLinkCapacity: t.accessLinkCapacity, coreLinkCapacity: t.coreLinkCapacity)
            case .barabasiAlbert(let nodes, let attach):
                topology = Topology.syntheticBarabasiAlbert(
                    nodes: nodes, attach: attach, seed: scenario.seed,
                    accessLinkCapacity: t.accessLinkCapacity, coreLinkCapacity: t.coreLinkCapacity)
            }
            if topology.accessNodes.isEmpty {
                throw SimulationError(.invalidScenario, "\(scenario.name): topology", "has no access AS with address space: no viewers can be placed")
            }
            cache[key] = topology
            result.append(topology)
        }
        return result
    }

    /// Reads the traces runs replay (each distinct one once), so that a bad trace stops the
    /// sweep before it starts.
    func loadTraces(_ topologies: [Topology]) throws(SimulationError) -> [[Simulation.ScriptedArrival]?] {
        var cache: [String: [Simulation.ScriptedArrival]] = [:]
        var result: [[Simulation.ScriptedArrival]?] = []
        for (i, scenario) in runs.enumerated() {
            guard let path = scenario.workload.trace else {
                result.append(nil)
                continue
            }
            let t = scenario.topology
            let key = "\(path)|\(t.source)|\(t.dataDirectory ?? "")|\(t.minDaysSeen)|\(t.routing)|\(scenario.seed)|\(scenario.workload.bitrates)"
            if cache[key] == nil {
                cache[key] = try TraceFile.load(path: path, topology: topologies[i], scenario: scenario)
            }
            result.append(cache[key])
        }
        return result
    }

    /// Runs everything and returns the results in the order of ``runs`` (group them with
    /// ``Replicates/group(_:)``). Only the first run records a trace.
    public func run(progress: (@Sendable (Progress) -> Void)? = nil) throws(SimulationError) -> [SimulationResult] {
        let topologies = try loadTopologies()
        let traces = try loadTraces(topologies)
        let scenarios = runs
        let results = Mutex<[SimulationResult?]>(Array(repeating: nil, count: scenarios.count))
        let next = Atomic<Int>(0)
        let workers = min(parallelism, scenarios.count)
        let recordTrace = self.recordTrace
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < scenarios.count else { return }
                let simulation = Simulation(scenario: scenarios[i], topology: topologies[i], recordTrace: recordTrace && i == 0)
                if let trace = traces[i] { simulation.replay(trace) }
                let result = simulation.run { time, events in
                    progress?(Progress(scenario: i, simulatedTime: time, events: events))
                }
                results.withLock { $0[i] = result }
            }
        }
        return results.withLock { $0.map { $0! } }
    }
}
