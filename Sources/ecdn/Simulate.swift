import ArgumentParser
import ElasticSim
import Foundation

/// `ecdn simulate`: runs scenario files and writes the report.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate elastic and static CDNs on a country's AS graph.",
        discussion: """
            Runs every scenario of the given files (in parallel, one per core) and writes \
            DIR/report.html, DIR/summary.json, DIR/summary.csv and per-scenario CSV files. \
            Scenario files are JSON, format version 1 (docs/simulator.md); the repository's \
            scenarios/ folder has the standard experiments. Example:
              ecdn simulate scenarios/static-vs-elastic.json --out out/static-vs-elastic
            """
    )

    @Argument(help: ArgumentHelp("Scenario files (JSON, format version 1).", valueName: "scenario-file"))
    var scenarioFiles: [String]

    @Option(name: .long, help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String = "out/sim"

    @Option(name: .long, help: ArgumentHelp(
        "Topology data folder (as_links.tsv, <cc>.tsv, <cc>-roles.tsv). Default: ../shared/data/topology next to the package, when present.",
        valueName: "dir"))
    var data: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override a scenario key in every scenario, e.g. --set caches.bootTime=1 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Option(name: .long, help: "Override the seed of every scenario.")
    var seed: UInt64?

    @Option(name: .long, help: ArgumentHelp("Override the simulated time of every scenario, seconds.", valueName: "seconds"))
    var duration: Double?

    @Option(name: .long, help: ArgumentHelp(
        "Run every scenario with N seeds (seed, seed+1, ...); summary.json reports means and, for each numeric key K, K_ci95 (half-width of the 95% confidence interval).",
        valueName: "n"))
    var seeds: Int = 1

    @Option(name: .long, help: "Runs at once (default: number of cores).")
    var jobs: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Write the viewer trace (arrival_s, asn, content, bitrate_bps, view_s) of the first scenario as CSV.",
        valueName: "file"))
    var trace: String?

    @Option(name: .long, help: ArgumentHelp(
        "Replay a viewer-session trace instead of the synthetic arrivals in every scenario: the CSV --trace writes, or one with the columns time,client,content,bitrate,duration (docs/simulator.md).",
        valueName: "file"))
    var replay: String?

    @Flag(inversion: .prefixedNo, help: "Show a progress bar on stderr (default: when stderr is a terminal).")
    var progress: Bool?

    @Flag(name: .long, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if seeds < 1 || seeds > 10_000 { throw ValidationError("--seeds must be between 1 and 10000") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be > 0 seconds") }
    }

    func run() throws {
        do {
            try simulate()
        } catch {
            FileHandle.standardError.write(Data("ecdn simulate: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func simulate() throws(SimulationError) {
        var assignments = overrides
        if let seed { assignments.append("seed=\(seed)") }
        if let duration { assignments.append("duration=\(duration)") }
        if let replay {
            guard FileManager.default.isReadableFile(atPath: replay) else {
                throw SimulationError(.missingFile, "--replay \(replay)", "cannot read the trace file")
            }
            assignments.append("workload.trace=\(URL(fileURLWithPath: replay).standardizedFileURL.path)")
        }
        let dataDirectory = data ?? Self.defaultDataDirectory()
        if let data, !FileManager.default.fileExists(atPath: "\(data)/as_links.tsv") {
            throw SimulationError(.missingFile, "--data \(data)", "no as_links.tsv in this folder; point --data at the topology data folder")
        }
        var scenarios: [Scenario] = []
        for file in scenarioFiles {
            scenarios += try ScenarioFile.load(path: file, overrides: assignments, defaultDataDirectory: dataDirectory)
        }
        var seen = Set<String>()
        for scenario in scenarios where !seen.insert(scenario.name).inserted {
            throw SimulationError(.invalidScenario, scenarioFiles.joined(separator: " "), "scenario name \"\(scenario.name)\" appears twice; names must be unique across files")
        }
        let sweep = Sweep(
            scenarios: scenarios, seeds: seeds, recordTrace: trace != nil,
            parallelism: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
        let showProgress = !quiet && (progress ?? (isatty(STDERR_FILENO) == 1))
        let bar = showProgress ? ProgressBar(scenarios: sweep.runs) : nil
        if !quiet {
            let runs = seeds > 1 ? " x \(seeds) seeds" : ""
            FileHandle.standardError.write(Data("ecdn simulate: \(scenarios.count) scenario(s)\(runs) on \(sweep.parallelism) core(s)\n".utf8))
        }
        var report: (@Sendable (Sweep.Progress) -> Void)?
        if let bar { report = { bar.update($0) } }
        let results = try sweep.run(progress: report)
        bar?.finish()
        try Report.write(results, to: out, tracePath: trace)
        guard !quiet else { return }
        print(Self.table(results))
        print("report: \(out)/report.html\nsummary: \(out)/summary.json")
    }

    /// `../shared/data/topology` next to the package that holds this executable (or the
    /// current folder), when it exists.
    static func defaultDataDirectory() -> String? {
        var candidates: [URL] = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        for base in candidates where FileManager.default.fileExists(atPath: base.appendingPathComponent("Package.swift").path) {
            let data = base.deletingLastPathComponent().appendingPathComponent("shared/data/topology")
            if FileManager.default.fileExists(atPath: data.appendingPathComponent("as_links.tsv").path) {
                return data.standardizedFileURL.path
            }
        }
        return nil
    }

    /// One line per scenario (means over its seeds).
    static func table(_ results: [SimulationResult]) -> String {
        let header = ["scenario", "viewers", "startup p50/p95 s", "buf.ratio mean/p95", "origin TB", "cache TB", "inst-h", "peak inst", "events", "wall s", "sim/wall"]
        var rows = [header]
        for group in Replicates.group(results) {
            let row = Dictionary(Report.summary(group).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            func x(_ key: String) -> Double { (row[key] as? Double) ?? (row[key] as? Int).map(Double.init) ?? 0 }
            rows.append([
                group.name, String(format: "%.0f", x("viewers")),
                String(format: "%.2f/%.2f", x("startup_delay_p50_s"), x("startup_delay_p95_s")),
                String(format: "%.4f/%.4f", x("buffering_ratio_mean"), x("buffering_ratio_p95")),
                String(format: "%.2f", x("origin_egress_bytes") / 1e12), String(format: "%.2f", x("cache_served_bytes") / 1e12),
                String(format: "%.0f", x("instance_seconds") / 3600), String(format: "%.0f", x("peak_instances")),
                String(format: "%.0f", x("events")), String(format: "%.1f", x("wall_seconds")), String(format: "%.1f", x("sim_wall_ratio")),
            ])
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { row in
            row.indices.map { i in i == 0 ? row[i].padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - row[i].count) + row[i] }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
