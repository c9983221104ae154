import Foundation
import Testing

@testable import ElasticSim

/// Whole scenarios: determinism, the expected ordering of deployments, scenario-file errors.
struct ScenarioTests {
    private func parse(_ json: String, overrides: [String] = []) throws -> [Scenario] {
        let root = try JSONSerialization.jsonObject(with: Data(json.utf8))
        return try ScenarioFile.parse(root, file: "test.json", overrides: overrides)
    }

    /// A small congested tree: 16 access ASes behind 250 Mb/s links.
    private let congested = """
        {"version": 1,
         "defaults": {"duration": 240, "seed": 3,
                      "topology": {"synthetic": {"kind": "tree", "fanout": 4, "depth": 2}, "accessLinkGbps": 0.25},
                      "workload": {"concurrentStreams": 800, "hosts": 10000, "channels": 50}},
         "scenarios": [
           {"name": "no-cache"},
           {"name": "static-100", "caches": {"mode": "static", "staticPercent": 100}},
           {"name": "elastic-10ms", "caches": {"mode": "elastic", "bootTime": 0.01}}
         ]}
        """

    @Test func noCachesIsWorstAndMillisecondBootMatchesCachesEverywhere() throws {
        let results = try Sweep(scenarios: parse(congested)).run()
        let none = results[0], everywhere = results[1], elastic = results[2]
        #expect(none.bufferingRatioMean > everywhere.bufferingRatioMean + 0.01)
        #expect(none.bufferingRatioMean > elastic.bufferingRatioMean + 0.01)
        #expect(none.startupDelayP95 > everywhere.startupDelayP95)
        #expect(none.originEgressBytes > everywhere.originEgressBytes)
        #expect(abs(elastic.bufferingRatioMean - everywhere.bufferingRatioMean) <= 0.005)
        #expect(abs(elastic.startupDelayP50 - everywhere.startupDelayP50) <= 0.05)
        #expect(abs(elastic.startupDelayP95 - everywhere.startupDelayP95) <= 0.1)
        #expect(elastic.instanceSeconds < everywhere.instanceSeconds * 50)
    }

    /// Everything in summary.json but the wall-clock figures.
    private func simulated(_ r: SimulationResult) -> String {
        Report.summary(r).filter { !["wall_seconds", "events_per_second", "sim_wall_ratio"].contains($0.0) }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
    }

    @Test func theSameSeedGivesTheSameResultsBitForBit() throws {
        let json = """
            {"version": 1, "defaults": {"duration": 120, "topology": {"synthetic": {"kind": "barabasi-albert", "nodes": 120, "attach": 2}, "accessLinkGbps": 0.3},
              "workload": {"concurrentStreams": 600, "hosts": 5000}, "caches": {"mode": "elastic", "bootTime": 1, "waitForBoot": false}},
             "scenarios": [{"name": "a", "seed": 9}, {"name": "b", "seed": 9}, {"name": "c", "seed": 10}]}
            """
        let scenarios = try parse(json)
        let parallel = try Sweep(scenarios: scenarios, parallelism: 2).run()
        let serial = try Sweep(scenarios: scenarios, parallelism: 1).run()
        func strip(_ r: SimulationResult) -> String { simulated(r).replacingOccurrences(of: "name=\(r.name)", with: "") }
        #expect(strip(parallel[0]) == strip(parallel[1]))
        #expect(simulated(parallel[0]) == simulated(serial[0]))
        #expect(parallel[0].series.map(\.originEgress) == serial[1].series.map(\.originEgress))
        #expect(strip(parallel[0]) != strip(parallel[2]))
    }

    @Test func defaultsAndOverridesMergeIntoEachScenario() throws {
        let scenarios = try parse("""
            {"version": 1, "defaults": {"duration": 60, "caches": {"mode": "elastic", "bootTime": 5}},
             "scenarios": [{"name": "x"}, {"name": "y", "caches": {"bootTime": 1}}]}
            """, overrides: ["caches.threshold=3", "workload.flashCrowd.factor=4"])
        #expect(scenarios.map(\.caches.bootTime) == [5, 1])
        #expect(scenarios.allSatisfy { $0.caches.mode == .elastic && $0.caches.threshold == 3 && $0.duration == 60 })
        let profile = scenarios[0].workload.arrivalProfile
        #expect(profile.count == 3)
        #expect(profile[1].time == 600 && abs(profile[1].rate - 4 * profile[0].rate) < 1e-12)
        #expect(profile[2].time == 900 && profile[2].rate == profile[0].rate)
    }

    @Test(arguments: [
        (#"{"version": 1, "scenarios": [{"name": "a", "caches": {"bootTme": 1}}]}"#, "test.json: scenarios[0].caches.bootTme", "unknown key"),
        (#"{"version": 1, "scenarios": [{"name": "a", "caches": {"bootTime": -1}}]}"#, "test.json: scenarios[0].caches.bootTime", "must be >= 0"),
        (#"{"version": 1, "scenarios": [{"name": "a", "caches": {"waitForBoot": "yes"}}]}"#, "test.json: scenarios[0].caches.waitForBoot", "true or false"),
        (#"{"version": 1, "scenarios": [{"name": "a", "workload": {"bitratesMbps": [5, 40]}}]}"#, "test.json: scenarios[0].workload.bitratesMbps[1]", "access link"),
        (#"{"version": 1, "scenarios": [{"name": "a", "workload": {"profile": [[0, 5], [0, 6]]}}]}"#, "test.json: scenarios[0].workload.profile[1][0]", "times must increase"),
        (#"{"version": 1, "scenarios": [{"name": "a", "workload": {"viewTime": [60, 30, 90]}}]}"#, "test.json: scenarios[0].workload.viewTime", "low <= mode <= high"),
        (#"{"version": 1, "scenarios": [{"name": "a"}, {"name": "a"}]}"#, "test.json: scenarios[1].name", "duplicate"),
        (#"{"version": 1, "scenarios": [{"caches": {}}]}"#, "test.json: scenarios[0].name", "needs a non-empty"),
        (#"{"version": 2, "scenarios": [{"name": "a"}]}"#, "test.json: version", "not supported"),
        (#"{"scenarios": [{"name": "a"}]}"#, "test.json: version", "missing"),
        (#"{"version": 1, "scenarios": [{"name": "a", "topology": {"country": "Germany"}}]}"#, "test.json: scenarios[0].topology.country", "two-letter"),
        (#"{"version": 1, "scenarios": [{"name": "a", "player": {"startupBuffer": 20, "maxBuffer": 10}}]}"#, "test.json: scenarios[0].player.maxBuffer", "at least startupBuffer"),
        (#"{"version": 1, "scenarios": [{"name": "a", "workload": {"backgroundStreams": -3}}]}"#, "test.json: scenarios[0].workload.backgroundStreams", "must be >= 0"),
    ])
    func badScenariosNameTheKeyAndTheProblem(json: String, location: String, message: String) {
        #expect {
            try parse(json)
        } throws: { error in
            let e = error as! SimulationError
            return e.code == .invalidScenario && e.location == location && e.message.contains(message)
        }
    }

    @Test func invalidJSONIsReportedWithLineAndColumn() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).json").path
        try Data("{\n  \"version\": 1,\n  \"scenarios\": [ {\"name\": \"a\",, } ]\n}\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            try ScenarioFile.load(path: path)
        } throws: { error in
            let e = error as! SimulationError
            return e.location.hasPrefix("\(path):3:") && e.message.contains("not valid JSON")
        }
        #expect {
            try ScenarioFile.load(path: "/nonexistent/scenario.json")
        } throws: { error in
            (error as! SimulationError).code == .missingFile
        }
    }

    @Test func badOverrideIsRejected() {
        #expect(throws: SimulationError.self) { try parse(#"{"version": 1, "scenarios": [{"name": "a"}]}"#, overrides: ["no-equals-sign"]) }
        #expect(throws: SimulationError.self) { try parse(#"{"version": 1, "scenarios": [{"name": "a"}]}"#, overrides: ["caches.bootTime=-3"]) }
    }

    @Test func shippedScenarioFilesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let expected = [
            "static-vs-elastic": ["no-cache", "static-10", "static-25", "static-50", "static-100", "elastic"],
            "boot-time-sweep": ["static-100", "boot-10ms", "boot-100ms", "boot-1s", "boot-10s", "boot-30s", "boot-30s-bypass"],
            "flash-crowd": ["flash-no-cache", "flash-static-25", "flash-elastic"],
            "peak-instances": ["peak-stop-at-once", "peak-idle-60s", "peak-small-instances", "peak-hierarchical"],
            "scale-de": ["scale-de"],
            "cdnsim-default": ["cdnsim-default"],
        ]
        for (file, names) in expected {
            let scenarios = try ScenarioFile.load(path: root.appendingPathComponent("scenarios/\(file).json").path)
            #expect(scenarios.map(\.name) == names, "\(file)")
        }
        let cdnsim = try #require(try ScenarioFile.load(path: root.appendingPathComponent("scenarios/cdnsim-default.json").path).first)
        #expect(cdnsim.model == .cdnsim)
        #expect(cdnsim.workload.interarrival == .gamma && cdnsim.workload.bitrateAboveTop == .redraw)
        #expect(cdnsim.topology.routing == .country)
        #expect(cdnsim.workload.arrivalProfile.map(\.time) == [0, 30])
        #expect(abs(cdnsim.workload.arrivalProfile[0].rate * 30 - 100_000) < 1e-6)
    }

    @Test func reportIsSelfContainedAndSummaryHasTheContractKeys() throws {
        let results = try Sweep(scenarios: parse("""
            {"version": 1, "defaults": {"duration": 60, "topology": {"synthetic": {"kind": "tree", "fanout": 3, "depth": 2}},
              "workload": {"concurrentStreams": 100, "hosts": 1000}},
             "scenarios": [{"name": "none"}, {"name": "elastic", "caches": {"mode": "elastic"}}]}
            """), recordTrace: true).run()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecdn-report-\(UUID().uuidString)").path
        let trace = "\(dir)/trace.csv"
        try Report.write(results, to: dir, tracePath: trace)
        let summary = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/summary.json"))) as? [[String: Any]])
        #expect(summary.count == 2)
        for key in ["name", "viewers", "startup_delay_p50_s", "startup_delay_p95_s", "buffering_ratio_mean", "buffering_ratio_p95",
                    "origin_egress_bytes", "cache_served_bytes", "instance_seconds", "peak_instances", "events", "wall_seconds"] {
            #expect(summary.allSatisfy { $0[key] != nil }, "\(key)")
        }
        let html = try String(contentsOfFile: "\(dir)/report.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("elastic"))
        #expect(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"))
        let rows = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        #expect(rows.first == "arrival_s,asn,content,bitrate_bps,view_s")
        #expect(rows.count > 10)
    }
}
