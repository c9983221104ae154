import Testing
import Workload

@testable import ElasticSim

struct CohortQueueTests {
    /// Random insertions, moves up and down, and removals: after every change the queue's
    /// minimum is the earliest time of a straightforward table, ties to the lowest cohort id.
    @Test(arguments: 1...8)
    func minimumFollowsEveryChange(seed: UInt64) {
        var rng = RandomSource(seed: 500 + seed)
        var queue = CohortQueue()
        var times: [Int32: Double] = [:]
        let cohorts = 1 + Int(rng.unit() * 300)
        for _ in 0..<3000 {
            let c = Int32(rng.unit() * Double(cohorts))
            // Few distinct times, so that ties are common.
            let t = rng.unit() < 0.15 ? Double.infinity : Double(Int(rng.unit() * 50))
            queue.set(c, t)
            times[c] = t.isFinite ? t : nil
            let expected = times.min { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }
            #expect(queue.min?.cohort == expected?.key)
            #expect(queue.min?.time == expected?.value)
            #expect(queue.isEmpty == times.isEmpty)
        }
        // Draining in order gives the times sorted, ties by id.
        var drained: [(Double, Int32)] = []
        while let next = queue.min {
            drained.append((next.time, next.cohort))
            queue.set(next.cohort, .infinity)
        }
        let sorted = times.map { ($0.value, $0.key) }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        #expect(drained.map(\.0) == sorted.map(\.0))
        #expect(drained.map(\.1) == sorted.map(\.1))
    }
}
