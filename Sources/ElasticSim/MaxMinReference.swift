/// Straightforward progressive filling over individual flows, for checking ``FlowNetwork``:
/// raise every unfrozen flow's rate together until a flow reaches its cap or a link fills up,
/// freeze those flows, repeat.
package enum MaxMinReference {
    package static func rates(capacities: [Double], flows: [(links: [Int], cap: Double)]) -> [Double] {
        var rate = Array(repeating: 0.0, count: flows.count)
        var frozen = Array(repeating: false, count: flows.count)
        var level = 0.0
        while frozen.contains(false) {
            var used = Array(repeating: 0.0, count: capacities.count)
            var active = Array(repeating: 0, count: capacities.count)
            for (f, flow) in flows.enumerated() {
                for l in flow.links {
                    used[l] += frozen[f] ? rate[f] : level
                    if !frozen[f] { active[l] += 1 }
                }
            }
            var step = Double.infinity
            for (f, flow) in flows.enumerated() where !frozen[f] { step = min(step, flow.cap - level) }
            for l in capacities.indices where active[l] > 0 {
                step = min(step, (capacities[l] - used[l]) / Double(active[l]))
            }
            level += max(0, step)
            for f in flows.indices where !frozen[f] { rate[f] = level }
            var saturated = Array(repeating: false, count: capacities.count)
            for l in capacities.indices where active[l] > 0 {
                var total = 0.0
                for (f, flow) in flows.enumerated() where flow.links.contains(l) { total += rate[f] }
                saturated[l] = total >= capacities[l] * (1 - 1e-12)
            }
            for (f, flow) in flows.enumerated() where !frozen[f] {
                if level >= flow.cap * (1 - 1e-12) || flow.links.contains(where: { saturated[$0] }) {
                    frozen[f] = true
                    rate[f] = min(level, flow.cap)
                }
            }
        }
        return rate
    }
}
