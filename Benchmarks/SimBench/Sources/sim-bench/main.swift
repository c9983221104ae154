import ElasticSim
import Foundation

/// Runs the scenarios of one file one after another (one core) and prints, per scenario, its
/// events, simulation wall time and simulated/wall ratio; writes the usual reports to --out.
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
    let results = try Sweep(scenarios: scenarios, parallelism: 1).run()
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
