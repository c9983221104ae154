import Workload

extension Topology {
    /// A complete tree: the origin at the root, `fanout` children per node, `depth` levels;
    /// the leaves are access ASes, with random address space drawn from `seed`.
    public static func syntheticTree(
        fanout: Int, depth: Int, seed: UInt64,
        accessLinkCapacity: Double = 10e9, coreLinkCapacity: Double = 40e9
    ) -> Topology {
        var rng = RandomSource(seed: seed, stream: 11)
        var parentOf = [-1]
        var level = [0]
        var frontier = [0]
        for d in 1...max(depth, 1) {
            var next: [Int] = []
            for p in frontier {
                for _ in 0..<max(fanout, 1) {
                    parentOf.append(p)
                    level.append(d)
                    next.append(parentOf.count - 1)
                }
            }
            frontier = next
        }
        let n = parentOf.count
        var adjacency: [[Int]] = Array(repeating: [], count: n)
        for v in 1..<n {
            adjacency[parentOf[v]].append(v)
            adjacency[v].append(parentOf[v])
        }
        let role: [Role] = (0..<n).map { $0 == 0 ? .provider : (level[$0] == max(depth, 1) ? .access : .content) }
        let space = role.map { $0 == .access ? 256 * Double(1 + Int(rng.unit() * 64)) : 0 }
        return tree(
            asn: Array(1...n), role: role, addressSpace: space, adjacency: adjacency, origin: 0,
            accessCapacity: accessLinkCapacity, coreCapacity: coreLinkCapacity,
            label: "tree: fanout \(fanout), depth \(depth), \(role.filter { $0 == .access }.count) access ASes"
        ).topology
    }

    /// A Barabási–Albert graph of `nodes` ASes, each new AS attaching to `attach` existing ones
    /// by preferential attachment. Node 0 (a hub) is the origin; ASes with at most `attach`
    /// links are access ASes.
    public static func syntheticBarabasiAlbert(
        nodes: Int, attach: Int, seed: UInt64,
        accessLinkCapacity: Double = 10e9, coreLinkCapacity: Double = 40e9
    ) -> Topology {
        var rng = RandomSource(seed: seed, stream: 12)
        let n = max(nodes, attach + 2)
        let m = max(attach, 1)
        var adjacency: [[Int]] = Array(repeating: [], count: n)
        var endpoints: [Int] = []
        for v in 0...m {
            for u in 0..<v {
                adjacency[u].append(v)
                adjacency[v].append(u)
                endpoints += [u, v]
            }
        }
        for v in (m + 1)..<n {
            var targets: [Int] = []
            while targets.count < m {
                let t = endpoints[Int(rng.unit() * Double(endpoints.count))]
                if !targets.contains(t) { targets.append(t) }
            }
            for t in targets {
                adjacency[t].append(v)
                adjacency[v].append(t)
                endpoints += [t, v]
            }
        }
        for v in 0..<n { adjacency[v].sort() }
        let role: [Role] = (0..<n).map { $0 == 0 ? .provider : (adjacency[$0].count <= m ? .access : .content) }
        let space = role.map { $0 == .access ? 256 * Double(1 + Int(rng.unit() * 64)) : 0 }
        return tree(
            asn: Array(1...n), role: role, addressSpace: space, adjacency: adjacency, origin: 0,
            accessCapacity: accessLinkCapacity, coreCapacity: coreLinkCapacity,
            label: "Barabási–Albert: \(n) ASes, m = \(m), \(role.filter { $0 == .access }.count) access ASes"
        ).topology.pruned()
    }
}
