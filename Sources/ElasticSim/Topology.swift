/// The network the simulator runs on: the shortest-path tree from the origin (the content
/// provider's AS) to every AS that has viewers, with link capacities.
///
/// Nodes `0..<count` are ASes and ``origin`` is the provider. The tree is stored as a parent
/// pointer per node; a node's id is also the id of the link to its parent (its uplink).
public struct Topology: Sendable {
    /// What an AS is in the model.
    public enum Role: String, Sendable, Codable {
        /// An eyeball AS where viewers live.
        case access
        /// A content or transit AS.
        case content
        /// The content provider's AS: the origin.
        case provider
        /// An AS without a role that a shortest path crosses: an AS of the country that
        /// `<cc>-roles.tsv` does not mark, or (global routing) an AS of another country.
        case transit
    }

    /// AS numbers (synthetic topologies number their nodes from 1).
    public internal(set) var asn: [Int]
    public internal(set) var role: [Role]
    /// Routable IPv4 addresses (the weight for placing viewers).
    public internal(set) var addressSpace: [Double]
    /// Parent on the shortest path to the origin; -1 for the origin.
    public internal(set) var parent: [Int]
    /// Hops to the origin.
    public internal(set) var depth: [Int]
    /// Capacity in bits per second of the link from a node to its parent (0 for the origin).
    public internal(set) var uplinkCapacity: [Double]
    /// Whether a node's uplink touches an access AS (reported as an access link).
    public internal(set) var uplinkIsAccess: [Bool]
    public internal(set) var origin: Int
    /// A short description for reports ("de: 588 access ASes, ...").
    public internal(set) var label: String

    public var count: Int { asn.count }

    /// Nodes that carry viewers.
    public var accessNodes: [Int] { (0..<count).filter { role[$0] == .access && addressSpace[$0] > 0 } }

    /// Link ids on the path from `ancestor` down to `node` (a node's uplink has the node's id).
    func links(from ancestor: Int, to node: Int) -> [Int] {
        var result: [Int] = []
        var n = node
        while n != ancestor && n >= 0 {
            result.append(n)
            n = parent[n]
        }
        return result
    }

    /// Builds the tree from an undirected graph by breadth-first search from the origin,
    /// visiting neighbours in the order given (callers sort them for determinism).
    static func tree(
        asn: [Int], role: [Role], addressSpace: [Double], adjacency: [[Int]], origin: Int,
        accessCapacity: Double, coreCapacity: Double, label: String
    ) -> (topology: Topology, reached: [Bool]) {
        let n = asn.count
        var parent = Array(repeating: -1, count: n)
        var depth = Array(repeating: -1, count: n)
        depth[origin] = 0
        var queue = [origin]
        var head = 0
        while head < queue.count {
            let x = queue[head]
            head += 1
            for y in adjacency[x] where depth[y] < 0 {
                depth[y] = depth[x] + 1
                parent[y] = x
                queue.append(y)
            }
        }
        var capacity = Array(repeating: 0.0, count: n)
        var isAccess = Array(repeating: false, count: n)
        for v in 0..<n where parent[v] >= 0 {
            isAccess[v] = role[v] == .access || role[parent[v]] == .access
            capacity[v] = isAccess[v] ? accessCapacity : coreCapacity
        }
        let topology = Topology(
            asn: asn, role: role, addressSpace: addressSpace, parent: parent, depth: depth,
            uplinkCapacity: capacity, uplinkIsAccess: isAccess, origin: origin, label: label)
        return (topology, depth.map { $0 >= 0 })
    }
}
