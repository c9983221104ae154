import Foundation
import Testing

@testable import ElasticSim

/// `--seeds N`: means and 95 % confidence intervals over replications.
struct ReplicatesTests {
    @Test func studentQuantilesMatchTheTable() {
        #expect(Replicates.tQuantile975(degreesOfFreedom: 1) == 12.706)
        #expect(Replicates.tQuantile975(degreesOfFreedom: 30) == 2.042)
        #expect(abs(Replicates.tQuantile975(degreesOfFreedom: 100) - 1.98397) < 1e-4)
        #expect(abs(Replicates.tQuantile975(degreesOfFreedom: 1000) - 1.96234) < 1e-4)
    }

    @Test func intervalOfAHandComputedSample() {
        // Mean 3, sample standard deviation sqrt(2.5), t(0.975, 4) = 2.776.
        let (mean, halfWidth) = Replicates.meanAndCI95([1, 2, 3, 4, 5])
        #expect(mean == 3)
        #expect(abs(halfWidth - 2.776 * (2.5 / 5).squareRoot()) < 1e-12)
        #expect(Replicates.meanAndCI95([7]) == (7, 0))
        #expect(Replicates.meanAndCI95([2, 2, 2]).halfWidth == 0)
    }

    private func scenario() throws -> Scenario {
        let json = """
            {"version": 1, "name": "congested", "duration": 120,
             "topology": {"synthetic": {"kind": "tree", "fanout": 3, "depth": 2}, "accessLinkGbps": 0.08},
             "workload": {"concurrentStreams": 150, "hosts": 3000}}
            """
        return try #require(ScenarioFile.parse(JSONSerialization.jsonObject(with: Data(json.utf8)), file: "test.json").first)
    }

    private func row(seeds: Int) throws -> [String: Any] {
        let results = try Sweep(scenarios: [scenario()], seeds: seeds, parallelism: 2).run()
        #expect(results.count == seeds)
        #expect(results.map(\.seed) == (0..<seeds).map { 1 + UInt64($0) })
        let summary = try #require(JSONSerialization.jsonObject(with: Report.summaryJSON(results)) as? [[String: Any]])
        #expect(summary.count == 1)
        return summary[0]
    }

    @Test func intervalsShrinkWithMoreSeeds() throws {
        let one = try row(seeds: 1)
        #expect(!one.keys.contains { $0.hasSuffix("_ci95") })
        let few = try row(seeds: 3)
        let many = try row(seeds: 12)
        #expect(many["seeds"] as? Int == 12)
        for key in ["startup_delay_p95_s", "buffering_ratio_mean", "origin_egress_bytes", "viewers"] {
            let a = try #require(few["\(key)_ci95"] as? Double, "\(key)")
            let b = try #require(many["\(key)_ci95"] as? Double, "\(key)")
            #expect(a > 0, "\(key) varies between seeds")
            #expect(b < a, "\(key): \(b) with 12 seeds vs \(a) with 3")
        }
        // The mean lies inside the wider interval of the other sample.
        let m3 = try #require(few["viewers"] as? Double)
        let m12 = try #require(many["viewers"] as? Double)
        #expect(abs(m3 - m12) <= (few["viewers_ci95"] as? Double ?? 0))
    }
}
