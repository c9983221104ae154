import Foundation
import Testing

@testable import ElasticSim

/// VoD caches with finite storage and minicache's eviction, and trace replay.
struct StorageAndTraceTests {
    /// One access AS with an elastic cache; VoD objects of 60 s at 5 Mb/s (37.5 MB each) and
    /// storage for two of them.
    private func vod(idle: Double, eviction: Scenario.CacheConfig.EvictionChoice = .lru) -> Scenario {
        var s = Scenario()
        s.name = "vod"
        s.duration = 2000
        s.topology.source = .tree(fanout: 1, depth: 1)
        s.topology.hopDelay = 0
        s.workload.mode = .vod
        s.workload.vodObjects = 1
        s.workload.bitrates = [5e6]
        s.workload.warmStart = false
        s.workload.hosts = 100
        s.caches.mode = .elastic
        s.caches.bootTime = 0
        s.caches.idleTimeout = idle
        s.caches.storage = 80e6
        s.caches.eviction = eviction
        return s
    }

    private func run(_ s: Scenario, objects: [Int]) -> SimulationResult {
        let topology = Topology.syntheticTree(fanout: 1, depth: 1, seed: 1)
        let simulation = Simulation(scenario: s, topology: topology)
        simulation.replay(objects.enumerated().map {
            Simulation.ScriptedArrival(time: Double($0.offset) * 100, node: 1, content: $0.element, bitrateIndex: 0, seconds: 60)
        })
        return simulation.run()
    }

    private func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-6 * max(1, abs(a), abs(b)) }

    @Test func aFullCacheEvictsTheLeastRecentlyUsedObject() {
        // 1, 2, 1 (hit), 3 (evicts 2, used longest ago), 1 (hit), 2 (miss, evicts 3).
        let r = run(vod(idle: 10_000), objects: [1, 2, 1, 3, 1, 2])
        #expect(r.objectRequests == 6)
        #expect(r.objectHits == 2)
        // A miss fills from the origin while its viewer downloads: 2 s at 25 Mb/s for the
        // start-up buffer, then 5 Mb/s for 50 s, the fill capped at 5 Mb/s all along.
        #expect(close(r.originEgressBytes, 4 * 52 * 5e6 / 8))
        #expect(close(r.cacheServedBytes, 6 * 60 * 5e6 / 8))
    }

    @Test func aCacheThatBootsAgainStartsCold() {
        // No idle time: the site stops between viewers, so the second request for 1 misses.
        let r = run(vod(idle: 0), objects: [1, 1])
        #expect(r.objectRequests == 2)
        #expect(r.objectHits == 0)
        #expect(r.instanceStarts == 2)
    }

    @Test func policiesDifferOnAScanAndTheCurvesMatchTheRun() throws {
        // 1 is reused; a scan of one-time objects follows. LRU and SIEVE keep 1 only while it
        // is recent or visited; every policy's curve at the configured storage equals the run.
        let objects = [1, 1, 2, 3, 1, 4, 5, 1, 6, 7, 1]
        for policy in Scenario.CacheConfig.EvictionChoice.allCases {
            let r = run(vod(idle: 10_000, eviction: policy), objects: objects)
            let point = try #require(r.missRatioCurves.first { $0.policy == policy.rawValue && $0.storage == 80e6 })
            #expect(close(point.missRatio, 1 - Double(r.objectHits) / Double(r.objectRequests)), "\(policy)")
            #expect(r.missRatioCurves.count == 15)
            let biggest = try #require(r.missRatioCurves.filter { $0.policy == policy.rawValue }.max { $0.storage < $1.storage })
            #expect(biggest.missRatio <= point.missRatio)
            #expect(close(biggest.missRatio, 7.0 / 11), "4x the storage holds all 7 objects: only first requests miss")
        }
    }

    // MARK: Traces

    private func parse(_ json: String) throws -> [Scenario] {
        try ScenarioFile.parse(JSONSerialization.jsonObject(with: Data(json.utf8)), file: "test.json")
    }

    private func scratch(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecdn-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theTraceOfARunReplaysItExactly() throws {
        let base = """
            {"version": 1, "name": "run", "duration": 300,
             "topology": {"synthetic": {"kind": "tree", "fanout": 3, "depth": 2}, "accessLinkGbps": 0.2},
             "workload": {"concurrentStreams": 300, "hosts": 3000}, "caches": {"mode": "elastic", "bootTime": 1}}
            """
        let original = try Sweep(scenarios: parse(base), recordTrace: true).run()[0]
        #expect(original.warmViewers > 0)
        let trace = try scratch("trace.csv", Report.traceCSV([original]))
        var replay = try parse(base)
        replay[0].workload.trace = trace
        let again = try Sweep(scenarios: replay).run()[0]
        #expect(again.viewers == original.viewers)
        #expect(again.warmViewers == original.warmViewers)
        // The trace holds times in decimal: equal up to rounding.
        func same(_ a: [Double], _ b: [Double]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($0)) }
        }
        #expect(same(again.startupDelays, original.startupDelays))
        #expect(same(again.bufferingRatios, original.bufferingRatios))
        #expect(abs(again.originEgressBytes - original.originEgressBytes) <= 1e-9 * original.originEgressBytes)
        #expect(abs(again.instanceSeconds - original.instanceSeconds) <= 1e-9 * original.instanceSeconds)
    }

    @Test func aGenericTraceMapsClientsContentsAndBitrates() throws {
        let topology = Topology.syntheticTree(fanout: 2, depth: 1, seed: 1)
        var s = Scenario()
        s.seed = 4
        let path = try scratch("generic.csv", """
            duration,client,time,content,bitrate,ignored
            30,AS2,0,news,4900000,x
            60,10.0.0.7,1.5,sport,900000,y
            60,10.0.0.7,2,news,21000000,z
            45,3,2.5,sport,2400000,w
            """)
        let arrivals = try TraceFile.load(path: path, topology: topology, scenario: s)
        #expect(arrivals.map(\.time) == [0, 1.5, 2, 2.5])
        #expect(arrivals.map(\.content) == [0, 1, 0, 1])
        #expect(arrivals.map(\.bitrateIndex) == [2, 0, 5, 1])
        #expect(arrivals.map(\.seconds) == [30, 60, 60, 45])
        #expect(topology.asn[arrivals[0].node] == 2 && topology.asn[arrivals[3].node] == 3)
        #expect(arrivals[1].node == arrivals[2].node, "one address, one AS")
        #expect(topology.accessNodes.contains(arrivals[1].node))
    }

    @Test func badTracesAreReportedWithFileAndLine() throws {
        let topology = Topology.syntheticTree(fanout: 2, depth: 1, seed: 1)
        let unknown = try scratch("a.csv", "time,client,content,bitrate,duration\n0,AS2,1,5000000,30\n1,AS99,1,5000000,30\n")
        #expect {
            try TraceFile.load(path: unknown, topology: topology, scenario: Scenario())
        } throws: { ($0 as! SimulationError).location == "\(unknown):3" && ($0 as! SimulationError).code == .unknownAS }
        let header = try scratch("b.csv", "when,who\n0,2\n")
        #expect {
            try TraceFile.load(path: header, topology: topology, scenario: Scenario())
        } throws: { ($0 as! SimulationError).location == "\(header):1" }
        let number = try scratch("c.csv", "time,client,content,bitrate,duration\nsoon,AS2,1,5000000,30\n")
        #expect {
            try TraceFile.load(path: number, topology: topology, scenario: Scenario())
        } throws: { ($0 as! SimulationError).location == "\(number):2" }
    }
}
