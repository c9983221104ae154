import ElasticSim
import Foundation
import Synchronization

/// Runs the scenarios of one file one after another (one core) and prints, per scenario, its
/// events, simulation wall time and simulated/wall ratio; writes the usual reports to --out.
/// Every 60 simulated seconds a progress line on standard error gives the events so far and
/// the process's CPU and wall time, so that a run stopped early still tells its speed.
///
///     sim-bench FILE --data DIR [--out DIR] [--set key.path=value ...]
func main() throws(SimulationError) {
    var arguments = Array(CommandLine.arguments.dropFirst())
    var file: String?
    var data: String?
    var out = "bench-results/sim"
    var overrides: [String] = []
    while !arguments.isEmpty {
        let argument = arguments.removeFirst()
        switch argument {
        case "--data", "--out", "--set":
            guard !arguments.isEmpty else { throw SimulationError(.invalidScenario, argument, "needs a value") }
            let value = arguments.removeFirst()
            if argument == "--data" { data = value } else if argument == "--out" { out = value } else { overrides.append(value) }
        default:
            file = argument
        }
    }
    guard let file else {
        throw SimulationError(.missingFile, "sim-bench", "usage: sim-bench FILE --data DIR [--out DIR] [--set key.path=value ...]")
    }
    let scenarios = try ScenarioFile.load(path: file, overrides: overrides, defaultDataDirectory: data)
    let started = ContinuousClock.now
    let reported = Mutex((scenario: -1, time: 0.0))
    let results = try Sweep(scenarios: scenarios, parallelism: 1).run { progress in
        let due = reported.withLock { last in
            guard progress.scenario != last.scenario || progress.simulatedTime >= last.time + 60 else { return false }
            last = (progress.scenario, progress.simulatedTime)
            return true
        }
        guard due else { return }
        let cpu = Double(clock()) / Double(CLOCKS_PER_SEC)
        let wall = started.duration(to: .now)
        let line = "progress: scenario \(progress.scenario + 1), \(Int(progress.simulatedTime)) s simulated, "
            + "\(progress.events) events, CPU \(String(format: "%.1f", cpu)) s, wall \(wall.components.seconds) s\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
    try Report.write(results, to: out)
    for r in results {
        let rate = Double(r.events) / max(r.wallSeconds, 1e-9)
        print("\(r.name): \(r.events) events in \(String(format: "%.1f", r.wallSeconds)) s = \(Int(rate)) events/s; "
            + "\(Int(r.duration)) s simulated, sim/wall \(String(format: "%.1f", r.duration / r.wallSeconds))x; "
            + "\(r.viewers) arrivals + \(r.warmViewers) warm-start viewers")
    }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("sim-bench: error: \(error)\n".utf8))
    exit(1)
}
