import Testing
import Workload

@testable import ElasticSim

struct FlowNetworkTests {
    /// Adds flows `(links, cap)` one by one and returns each flow's rate after settling.
    private func rates(capacities: [Double], flows: [(links: [Int], cap: Double)]) -> [Double] {
        var net = FlowNetwork()
        for c in capacities { _ = net.addLink(capacity: c) }
        var groups: [Int32] = []
        for flow in flows {
            let g = net.group(path: net.path(flow.links.map { Int32($0) }), cap: flow.cap)
            net.add(1, to: g, now: 0)
            groups.append(g)
        }
        net.settle(now: 0)
        return groups.map { net.rate($0) }
    }

    @Test(arguments: [1, 2, 7, 100])
    func flowsOnOneBottleneckGetAnEqualShare(n: Int) {
        let r = rates(capacities: [10e9], flows: Array(repeating: ([0], 1e12), count: n))
        for rate in r { #expect(abs(rate - 10e9 / Double(n)) < 1e-3) }
    }

    @Test func demandCapsAreRespectedAndLeftoverIsShared() {
        // 10 units on one link; caps 1 and 2 are met, the other two share the remaining 7.
        let r = rates(capacities: [10], flows: [([0], 1), ([0], 2), ([0], 100), ([0], 100)])
        #expect(r == [1, 2, 3.5, 3.5])
    }

    @Test func textbookThreeLinkExample() {
        // Links A (cap 1), B (cap 2), C (cap 3)... the classic example: flow 0 crosses A and B,
        // flow 1 only A, flow 2 B and C, flow 3 only C. A is the bottleneck of flows 0 and 1
        // (1/2 each); B then has 1.5 left for flow 2; C gives flow 3 the remaining 1.5.
        let r = rates(
            capacities: [1, 2, 3],
            flows: [([0, 1], 10), ([0], 10), ([1, 2], 10), ([2], 10)])
        #expect(r.map { ($0 * 1e9).rounded() / 1e9 } == [0.5, 0.5, 1.5, 1.5])
    }

    @Test func idleLinksGiveEveryFlowItsCap() {
        let r = rates(capacities: [100, 100], flows: [([0, 1], 3), ([1], 25), ([], 7)])
        #expect(r == [3, 25, 7])
    }

    /// Random adds, removals, cap changes and group limits on random small networks: after every
    /// settle the incremental allocation equals straightforward progressive filling over single
    /// flows (a flow's cap lowered to its group's limit). With a batch of 1 every change meets a
    /// settled network (the local fast paths); with 3, changes pile up between settles.
    @Test(arguments: 1...40, [1, 3])
    func incrementalAllocationEqualsReference(seed: UInt64, batch: Int) {
        var rng = RandomSource(seed: seed &* 7 &+ UInt64(batch))
        let linkCount = 2 + Int(rng.unit() * 6)
        let capacities = (0..<linkCount).map { _ in Double(1 + Int(rng.unit() * 20)) }
        var net = FlowNetwork()
        for c in capacities { _ = net.addLink(capacity: c) }
        let capsChoice: [Double] = [0.5, 1, 2.5, 5, 1000]
        var flows: [(links: [Int], cap: Double, group: Int32)] = []
        var limits: [Int32: Double] = [:]
        let limitChoice: [Double] = [0.3, 1.5, 4, .infinity]
        for step in 1...90 {
            let action = rng.unit()
            if action < 0.55 || flows.isEmpty {
                var links: [Int] = []
                for l in 0..<linkCount where rng.unit() < 0.4 { links.append(l) }
                let cap = capsChoice[Int(rng.unit() * Double(capsChoice.count))]
                let g = net.group(path: net.path(links.map { Int32($0) }), cap: cap)
                net.add(1, to: g, now: 0)
                flows.append((links, cap, g))
            } else if action < 0.75 {
                let i = Int(rng.unit() * Double(flows.count))
                net.remove(1, from: flows[i].group, now: 0)
                flows.remove(at: i)
            } else if action < 0.92 {
                let g = flows[Int(rng.unit() * Double(flows.count))].group
                let limit = limitChoice[Int(rng.unit() * Double(limitChoice.count))]
                net.setLimit(limit, of: g, now: 0)
                limits[g] = limit
            } else if action < 0.96 {
                // A flow moves to the group of another cap on its path (a capped viewer whose
                // buffer drains becomes uncapped).
                let i = Int(rng.unit() * Double(flows.count))
                let cap = capsChoice[Int(rng.unit() * Double(capsChoice.count))]
                let g = net.group(path: net.groupPath[Int(flows[i].group)], cap: cap)
                net.transfer(1, from: flows[i].group, to: g, now: 0)
                flows[i].cap = cap
                flows[i].group = g
            } else {
                let i = Int(rng.unit() * Double(flows.count))
                let cap = capsChoice[Int(rng.unit() * Double(capsChoice.count))]
                net.remove(1, from: flows[i].group, now: 0)
                let g = net.group(path: net.pathLinks[Int(net.groupPath[Int(flows[i].group)])].isEmpty
                    ? net.path([]) : net.groupPath[Int(flows[i].group)], cap: cap)
                net.add(1, to: g, now: 0)
                flows[i].cap = cap
                flows[i].group = g
            }
            guard step % batch == 0 else { continue }
            net.settle(now: 0)
            let expected = MaxMinReference.rates(
                capacities: capacities, flows: flows.map { ($0.links, min($0.cap, limits[$0.group] ?? .infinity)) })
            for (f, flow) in flows.enumerated() {
                let got = net.rate(flow.group)
                #expect(abs(got - expected[f]) <= 1e-9 * max(1, expected[f]), "flow \(f) of \(flows.count): \(got) vs \(expected[f])")
            }
            // The local fast paths decide from the link loads: they must stay exact too.
            for l in 0..<linkCount {
                let used = flows.indices.filter { flows[$0].links.contains(l) }.reduce(0.0) { $0 + expected[$1] }
                #expect(abs(net.load(l) - used) <= 1e-9 * max(1, used), "load of link \(l): \(net.load(l)) vs \(used)")
            }
        }
    }

    /// Flows on one or two neighbouring links of a chain make many small components that merge
    /// and split as flows come and go: recomputing only the changed component (its groups'
    /// links read from the flat link store) gives every flow its max-min fair rate.
    @Test(arguments: 1...12)
    func componentsThatMergeAndSplitStayExact(seed: UInt64) {
        var rng = RandomSource(seed: 1000 + seed)
        let linkCount = 12
        let capacities = (0..<linkCount).map { _ in Double(2 + Int(rng.unit() * 10)) }
        var net = FlowNetwork()
        for c in capacities { _ = net.addLink(capacity: c) }
        let capsChoice: [Double] = [0.5, 1, 3, 1000]
        var flows: [(links: [Int], cap: Double, group: Int32)] = []
        for _ in 1...100 {
            if rng.unit() < 0.55 || flows.isEmpty {
                let first = Int(rng.unit() * Double(linkCount))
                let links = rng.unit() < 0.5 || first == linkCount - 1 ? [first] : [first, first + 1]
                let cap = capsChoice[Int(rng.unit() * Double(capsChoice.count))]
                let n = 1 + Int(rng.unit() * 3)
                let g = net.group(path: net.path(links.map { Int32($0) }), cap: cap)
                net.add(n, to: g, now: 0)
                flows += Array(repeating: (links, cap, g), count: n)
            } else {
                let i = Int(rng.unit() * Double(flows.count))
                net.remove(1, from: flows[i].group, now: 0)
                flows.remove(at: i)
            }
            net.settle(now: 0)
            let expected = MaxMinReference.rates(capacities: capacities, flows: flows.map { ($0.links, $0.cap) })
            for (f, flow) in flows.enumerated() {
                let got = net.rate(flow.group)
                #expect(abs(got - expected[f]) <= 1e-9 * max(1, expected[f]), "flow \(f) of \(flows.count): \(got) vs \(expected[f])")
            }
            for l in 0..<linkCount {
                let used = flows.indices.filter { flows[$0].links.contains(l) }.reduce(0.0) { $0 + expected[$1] }
                #expect(abs(net.load(l) - used) <= 1e-9 * max(1, used), "load of link \(l): \(net.load(l)) vs \(used)")
            }
        }
    }

    @Test func aComponentJoinedByANewFlowIsRecomputedWhole() {
        // A on link 0 and B on link 1 are apart; C joins them. Removing A then changes only
        // link 0, but C (and through it B) must be reallocated.
        var net = FlowNetwork()
        _ = net.addLink(capacity: 10)
        _ = net.addLink(capacity: 4)
        let a = net.group(path: net.path([0]), cap: 100)
        let b = net.group(path: net.path([1]), cap: 100)
        let c = net.group(path: net.path([0, 1]), cap: 100)
        net.add(3, to: a, now: 0)
        net.add(1, to: b, now: 0)
        net.settle(now: 0)
        net.add(1, to: c, now: 0)
        net.settle(now: 0)
        #expect(net.rate(b) == 2 && net.rate(c) == 2)
        #expect(abs(net.rate(a) - 8.0 / 3) < 1e-12)
        net.remove(3, from: a, now: 0)
        net.settle(now: 0)
        #expect(net.rate(b) == 2 && net.rate(c) == 2)
        net.remove(1, from: b, now: 0)
        net.settle(now: 0)
        #expect(net.rate(c) == 4)
    }

    @Test func aLimitHoldsAGroupBelowItsCapAndFreesTheRest() {
        var net = FlowNetwork()
        _ = net.addLink(capacity: 10)
        let limited = net.group(path: net.path([0]), cap: 100)
        let other = net.group(path: net.path([0]), cap: 50)
        let local = net.group(path: net.path([]), cap: 25)
        net.add(1, to: limited, now: 0)
        net.add(1, to: other, now: 0)
        net.add(2, to: local, now: 0)
        net.settle(now: 0)
        #expect(net.rate(limited) == 5 && net.rate(other) == 5)
        net.setLimit(2, of: limited, now: 1)
        net.setLimit(4, of: local, now: 1)
        // A group that crosses no link takes its limit at once.
        #expect(net.rate(local) == 4)
        net.settle(now: 1)
        #expect(net.rate(limited) == 2 && net.rate(other) == 8)
        net.setLimit(.infinity, of: limited, now: 2)
        net.settle(now: 2)
        #expect(net.rate(limited) == 5 && net.rate(other) == 5)
        net.flush(Int(limited), now: 2)
        net.flush(Int(local), now: 2)
        #expect(abs(net.bytes(limited) - (5 + 2)) < 1e-9)
        #expect(abs(net.bytes(local) - 2 * (25 + 4)) < 1e-9)
    }

    @Test func flowsHeldByALinkMoveToAHigherCapWithoutARecomputation() {
        var net = FlowNetwork()
        _ = net.addLink(capacity: 12)
        let path = net.path([0])
        let capped = net.group(path: path, cap: 5)
        let uncapped = net.group(path: path, cap: 25)
        let small = net.group(path: path, cap: 1)
        net.add(3, to: capped, now: 0)
        net.add(1, to: uncapped, now: 0)
        net.add(1, to: small, now: 0)
        net.settle(now: 0)
        #expect(net.rate(capped) == 11.0 / 4 && net.rate(uncapped) == 11.0 / 4)
        let recomputations = net.recomputations
        net.transfer(2, from: capped, to: uncapped, now: 1)
        net.settle(now: 1)
        #expect(net.recomputations == recomputations)
        #expect(net.flows(capped) == 1 && net.flows(uncapped) == 3)
        #expect(net.rate(capped) == 11.0 / 4 && net.rate(uncapped) == 11.0 / 4)
        #expect(net.load(0) == 12)
        // A move that changes the allocation (a flow at its cap of 1 gets more) recomputes it.
        net.transfer(1, from: small, to: uncapped, now: 2)
        net.settle(now: 2)
        #expect(net.recomputations == recomputations + 1)
        #expect(abs(net.rate(uncapped) - 2.4) < 1e-12)
        #expect(abs(net.rate(capped) - 2.4) < 1e-12)
        // One flow at 11/4 for a second, then three.
        net.flush(Int(uncapped), now: 2)
        let bytes: Double = 11
        #expect(abs(net.bytes(uncapped) - bytes) < 1e-9)
    }

    /// A tree below one saturated head link, as behind the US origin: flows join and leave one
    /// at a time and move the head's level without a recomputation where they can (the
    /// single-level shift); rates, link loads and bytes stay those of progressive filling, also
    /// where links below the head fill up, ceilings lie near the level, limits and capacities
    /// change, and the fallback recomputations rebuild what the shifts rely on.
    @Test(arguments: 1...24)
    func levelShiftsBehindOneSaturatedLinkEqualReference(seed: UInt64) {
        var rng = RandomSource(seed: seed &* 13 &+ 5)
        // Link 0 is the head; 1...3 hang below it, 4...9 below one of those.
        let parents = [-1, 0, 0, 0] + (4...9).map { _ in 1 + Int(rng.unit() * 3) }
        // Links that fill up make more levels (a recomputation each): some leaves are small.
        var capacities = [60.0, 200, 200, 200] + (4...9).map { _ in rng.unit() < 0.2 ? 12.0 : 200.0 }
        func links(below node: Int) -> [Int] {
            var path: [Int] = []
            var n = node
            while n >= 0 {
                path.insert(n, at: 0)
                n = parents[n]
            }
            return path
        }
        var net = FlowNetwork()
        for c in capacities { _ = net.addLink(capacity: c) }
        let capsChoice: [Double] = [0.5, 1, 2.5, 5, 8]
        var flows: [(links: [Int], cap: Double, group: Int32)] = []
        var limits: [Int32: Double] = [:]
        var expectedBytes: [Int32: Double] = [:]
        var rates: [Double] = []
        var now = 0.0
        for _ in 1...160 {
            // Bytes up to now at the rates of the last settle.
            for (f, flow) in flows.enumerated() { expectedBytes[flow.group, default: 0] += rates[f] }
            now += 1
            let action = rng.unit()
            if action < 0.6 || flows.count < 3 {
                let path = links(below: Int(rng.unit() * Double(parents.count)))
                let cap = capsChoice[Int(rng.unit() * Double(capsChoice.count))]
                let g = net.group(path: net.path(path.map { Int32($0) }), cap: cap)
                net.add(1, to: g, now: now)
                flows.append((path, cap, g))
            } else if action < 0.93 {
                let i = Int(rng.unit() * Double(flows.count))
                net.remove(1, from: flows[i].group, now: now)
                flows.remove(at: i)
            } else if action < 0.97 {
                let g = flows[Int(rng.unit() * Double(flows.count))].group
                let limit = [0.7, 3, Double.infinity][Int(rng.unit() * 3)]
                net.setLimit(limit, of: g, now: now)
                limits[g] = limit
            } else {
                let l = 4 + Int(rng.unit() * 6)
                capacities[l] = capacities[l] == 12 ? 200 : 12
                net.setCapacity(capacities[l], of: l)
            }
            net.settle(now: now)
            rates = MaxMinReference.rates(
                capacities: capacities, flows: flows.map { ($0.links, min($0.cap, limits[$0.group] ?? .infinity)) })
            for (f, flow) in flows.enumerated() {
                let got = net.rate(flow.group)
                #expect(abs(got - rates[f]) <= 1e-9 * max(1, rates[f]), "flow \(f) of \(flows.count): \(got) vs \(rates[f])")
            }
            for l in capacities.indices {
                let used = flows.indices.filter { flows[$0].links.contains(l) }.reduce(0.0) { $0 + rates[$1] }
                #expect(abs(net.load(l) - used) <= 1e-9 * max(1, used), "load of link \(l): \(net.load(l)) vs \(used)")
            }
        }
        for (g, bytes) in expectedBytes {
            net.flush(Int(g), now: now)
            #expect(abs(net.bytes(g) - bytes) <= 1e-9 * max(1, bytes), "bytes of group \(g): \(net.bytes(g)) vs \(bytes)")
        }
        // Changes that cross the saturated head while it alone holds flows shifted its level.
        #expect(net.levelShifts >= 10, "\(net.levelShifts) shifts, \(net.recomputations) recomputations")
    }

    /// Fills below a saturated head, each followed by linkless viewer groups whose limit is the
    /// fill's rate while it starves (the simulator's caches): random joins and leaves of fills and
    /// viewers, the limits passed on only for the fills reported as changed (as the simulator
    /// does). Every group's rate, service and bytes and every owner's rate must equal the
    /// reference at every step, watched viewer groups must be reported whenever their rate
    /// changes, and a shift of the head's level must report no other group: the bound groups
    /// follow the head's clock.
    @Test(arguments: 1...16)
    func groupsBoundToTheHeadsClockFollowItsLevel(seed: UInt64) {
        var rng = RandomSource(seed: seed &* 31 &+ 3)
        let parents = [-1, 0, 0, 0] + (4...9).map { _ in 1 + Int(rng.unit() * 3) }
        let capacities = [60.0, 200, 200, 200] + Array(repeating: 200.0, count: 6)
        func links(below node: Int) -> [Int32] {
            var path: [Int32] = []
            var n = node
            while n >= 0 {
                path.insert(Int32(n), at: 0)
                n = parents[n]
            }
            return path
        }
        var net = FlowNetwork()
        for c in capacities { _ = net.addLink(capacity: c) }
        // Per node below the head: a fill of cap 8 from owner 0, and two viewer groups of owner
        // `node` that follow it, one capped at the fill's cap and one at 25 (the first watched).
        let nodes = Array(1..<parents.count)
        let fills = nodes.map { net.group(path: net.path(links(below: $0), owner: 0), cap: 8) }
        let viewers = nodes.map { node in
            [8.0, 25].map { net.group(path: net.path([], owner: Int32(node)), cap: $0) }
        }
        for i in nodes.indices { net.setWatched(viewers[i][0], true) }
        var fillFlows = Array(repeating: 0, count: nodes.count)
        var viewerFlows = Array(repeating: [0, 0], count: nodes.count)
        var fillRates = Array(repeating: 8.0, count: nodes.count)
        var limits = Array(repeating: Double.infinity, count: nodes.count)
        var service: [Int32: Double] = [:]
        var bytes: [Int32: Double] = [:]
        func viewerRate(_ i: Int, _ k: Int) -> Double { min([8.0, 25][k], limits[i]) }
        var shiftsChecked = 0
        var now = 0.0
        for _ in 1...240 {
            for i in nodes.indices {
                service[fills[i], default: 0] += fillRates[i]
                bytes[fills[i], default: 0] += fillRates[i] * Double(fillFlows[i])
                for k in 0..<2 {
                    service[viewers[i][k], default: 0] += viewerRate(i, k)
                    bytes[viewers[i][k], default: 0] += viewerRate(i, k) * Double(viewerFlows[i][k])
                }
            }
            now += 1
            let i = Int(rng.unit() * Double(nodes.count))
            let action = rng.unit()
            let shiftsBefore = net.levelShifts
            let recomputationsBefore = net.recomputations
            if action < 0.35 || fillFlows.reduce(0, +) < 4 {
                net.add(1, to: fills[i], now: now)
                fillFlows[i] += 1
            } else if action < 0.6 {
                guard fillFlows[i] > 0 else { continue }
                net.remove(1, from: fills[i], now: now)
                fillFlows[i] -= 1
            } else if action < 0.7 {
                // The head's capacity set again (as when a cache restarts) and a fill's change:
                // the allocation is recomputed, finds the same head, and its clock carries on.
                net.setCapacity(capacities[0], of: 0)
                if fillFlows[i] > 0 && rng.unit() < 0.5 {
                    net.remove(1, from: fills[i], now: now)
                    fillFlows[i] -= 1
                } else {
                    net.add(1, to: fills[i], now: now)
                    fillFlows[i] += 1
                }
            } else {
                let k = Int(rng.unit() * 2)
                if rng.unit() < 0.6 || viewerFlows[i][k] == 0 {
                    net.add(1, to: viewers[i][k], now: now)
                    viewerFlows[i][k] += 1
                } else {
                    net.remove(1, from: viewers[i][k], now: now)
                    viewerFlows[i][k] -= 1
                }
            }
            // What the simulator does: a fill reported as changed passes its rate on.
            var reported = Set<Int32>()
            while true {
                net.settle(now: now)
                let changed = net.takeChangedGroups()
                reported.formUnion(changed)
                var passed = false
                for f in changed {
                    guard let j = fills.firstIndex(of: f) else { continue }
                    let rate = net.rate(f)
                    let limit = rate < 8 * (1 - 1e-9) ? rate : .infinity
                    for v in viewers[j] where net.limit(v) != limit || net.clock(v) != net.clock(f) {
                        net.setLimit(limit, of: v, now: now, leader: f)
                        passed = true
                    }
                }
                if !passed { break }
            }
            let active = nodes.indices.filter { fillFlows[$0] > 0 }
            let reference = MaxMinReference.rates(
                capacities: capacities,
                flows: active.flatMap { j in Array(repeating: (links(below: nodes[j]).map { Int($0) }, 8.0), count: fillFlows[j]) })
            var previous: [[Double]] = nodes.indices.map { j in [viewerRate(j, 0), viewerRate(j, 1)] }
            var offset = 0
            for j in active {
                fillRates[j] = reference[offset]
                offset += fillFlows[j]
            }
            // An idle fill keeps the rate it had when it left, and its viewers follow it.
            for j in nodes.indices {
                if fillFlows[j] == 0 { fillRates[j] = net.rate(fills[j]) }
                limits[j] = fillRates[j] < 8 * (1 - 1e-9) ? fillRates[j] : .infinity
            }
            for j in nodes.indices {
                let got = net.rate(fills[j])
                if fillFlows[j] > 0 {
                    #expect(abs(got - fillRates[j]) <= 1e-9 * fillRates[j], "fill \(j): \(got) vs \(fillRates[j])")
                }
                for k in 0..<2 {
                    let v = viewers[j][k]
                    let want = viewerRate(j, k)
                    #expect(abs(net.rate(v) - want) <= 1e-9 * want, "viewers \(j)/\(k): \(net.rate(v)) vs \(want)")
                    let s = service[v] ?? 0
                    #expect(abs(net.service(v, at: now) - s) <= 1e-9 * max(1, s), "service of viewers \(j)/\(k)")
                    if k == 0 && viewerFlows[j][k] > 0 && abs(want - previous[j][k]) > 1e-9 * want {
                        #expect(reported.contains(v), "watched viewers \(j) changed unreported")
                    }
                }
                previous[j] = [viewerRate(j, 0), viewerRate(j, 1)]
            }
            for node in nodes {
                let j = node - 1
                let want = (0..<2).reduce(0.0) { $0 + Double(viewerFlows[j][$1]) * viewerRate(j, $1) }
                #expect(abs(net.ownerRate[node] - want) <= 1e-9 * max(1, want), "owner \(node): \(net.ownerRate[node]) vs \(want)")
            }
            let origin = active.reduce(0.0) { $0 + Double(fillFlows[$1]) * fillRates[$1] }
            #expect(abs(net.ownerRate[0] - origin) <= 1e-9 * max(1, origin), "origin: \(net.ownerRate[0]) vs \(origin)")
            // A shift reports at most the changed fill, the watched viewers and the viewers of a
            // fill that joined or left the head.
            if net.levelShifts > shiftsBefore && net.recomputations > 0 && net.recomputations == recomputationsBefore {
                let others = reported.filter { g in !viewers.contains { $0[0] == g } && !fills.contains(g) }
                #expect(others.count <= 2, "a shift reported \(others.count) unwatched viewer groups")
                let fillsReported = reported.filter { fills.contains($0) }
                #expect(fillsReported.count <= 1, "a shift reported \(fillsReported.count) fills")
                shiftsChecked += 1
            }
        }
        for g in fills + viewers.flatMap({ $0 }) {
            net.flush(Int(g), now: now)
            let want = bytes[g] ?? 0
            #expect(abs(net.bytes(g) - want) <= 1e-9 * max(1, want), "bytes of group \(g): \(net.bytes(g)) vs \(want)")
        }
        #expect(shiftsChecked >= 20, "\(shiftsChecked) shifts, \(net.recomputations) recomputations")
        #expect(net.clockRevivals >= 5, "\(net.clockRevivals) clocks carried on, \(net.recomputations) recomputations")
    }

    @Test func bytesAreIntegratedBetweenChanges() {
        var net = FlowNetwork()
        _ = net.addLink(capacity: 10)
        let g = net.group(path: net.path([0]), cap: 100)
        net.add(2, to: g, now: 0)
        net.settle(now: 0)
        net.add(3, to: g, now: 4)  // 4 s at 10 units/s in total
        net.settle(now: 4)
        net.flush(Int(g), now: 6)  // 2 s more at 10 units/s
        #expect(abs(net.bytes(g) - 60) < 1e-9)
    }
}
