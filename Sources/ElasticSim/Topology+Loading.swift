import Foundation

extension Topology {
    /// How paths are found on the real AS graph.
    public enum Routing: String, Sendable, CaseIterable {
        /// Shortest paths over the country graph, as the original simulator builds it: every AS
        /// of `<cc>.tsv` (ASes without a role in `<cc>-roles.tsv` are transit) joined by the
        /// links seen on enough days. An access AS that cannot reach the origin is an error.
        case country
        /// Shortest paths over the whole AS graph; ASes of other countries on a path become
        /// transit nodes too.
        case global
    }

    /// Loads a country from the topology data folder (`as_links.tsv`, `<cc>.tsv`,
    /// `<cc>-roles.tsv`).
    ///
    /// - Throws: ``SimulationError`` naming the file and line of missing or malformed data,
    ///   unknown ASes, or access ASes that cannot reach the origin.
    public static func load(
        country: String, dataDirectory: String, minDaysSeen: Int = 31, routing: Routing = .country,
        accessLinkCapacity: Double = 10e9, coreLinkCapacity: Double = 40e9
    ) throws(SimulationError) -> Topology {
        let rolesPath = "\(dataDirectory)/\(country)-roles.tsv"
        let asPath = "\(dataDirectory)/\(country).tsv"
        let linksPath = "\(dataDirectory)/as_links.tsv"

        var roles: [Int: Role] = [:]
        var roleOrder: [Int] = []
        try forEachLine(rolesPath) { (line, fields) throws(SimulationError) in
            if line == 1 && fields.first == "ASN" { return }
            guard fields.count >= 2, let asn = Int(fields[0]), asn > 0 else {
                throw SimulationError(.malformedData, "\(rolesPath):\(line)", "expected `ASN<TAB>role`, got \"\(fields.joined(separator: "\t"))\"")
            }
            guard let role = Role(rawValue: fields[1]), role != .transit else {
                throw SimulationError(.malformedData, "\(rolesPath):\(line)", "unknown role \"\(fields[1])\" (use access, content or provider)")
            }
            if roles.updateValue(role, forKey: asn) == nil { roleOrder.append(asn) }
        }
        let providers = roleOrder.filter { roles[$0] == .provider }
        guard providers.count == 1 else {
            throw SimulationError(.malformedData, rolesPath, "needs exactly one AS with role `provider` (the origin), found \(providers.count)")
        }

        var addresses: [Int: Double] = [:]
        try forEachLine(asPath) { (line, fields) throws(SimulationError) in
            if line == 1 && fields.first == "ASN" { return }
            guard let asn = Int(fields.first ?? "") else {
                throw SimulationError(.malformedData, "\(asPath):\(line)", "first column must be an AS number, got \"\(fields.first ?? "")\"")
            }
            let cell = fields.count > 4 ? fields[4].replacingOccurrences(of: ",", with: "") : ""
            if cell.isEmpty {
                addresses[asn] = 0
            } else if let value = Double(cell), value >= 0 {
                addresses[asn] = value
            } else {
                throw SimulationError(.malformedData, "\(asPath):\(line)", "column `#routeable IPv4` must be a number, got \"\(fields[4])\"")
            }
        }
        for asn in roleOrder where addresses[asn] == nil {
            throw SimulationError(.unknownAS, rolesPath, "AS\(asn) has a role but is not listed in \(asPath)")
        }

        var neighbours: [Int: [Int]] = [:]
        try forEachLine(linksPath) { (line, fields) throws(SimulationError) in
            guard fields.count >= 3, let a = Int(fields[0]), let b = Int(fields[1]), let days = Int(fields[2]) else {
                throw SimulationError(.malformedData, "\(linksPath):\(line)", "expected `ASN_A<TAB>ASN_B<TAB>days_seen`")
            }
            guard days >= minDaysSeen, a != b else { return }
            if routing == .country && (addresses[a] == nil || addresses[b] == nil) { return }
            neighbours[a, default: []].append(b)
            neighbours[b, default: []].append(a)
        }

        // Number the ASes with a role first (in roles-file order), then transit ASes as found.
        var index: [Int: Int] = [:]
        var asn: [Int] = []
        var role: [Role] = []
        var space: [Double] = []
        for a in roleOrder {
            index[a] = asn.count
            asn.append(a)
            role.append(roles[a]!)
            space.append(roles[a] == .access ? addresses[a]! : 0)
        }
        let origin = index[providers[0]]!
        // Breadth-first search over the AS graph keeps only what lies on a shortest path.
        var adjacency: [[Int]] = Array(repeating: [], count: asn.count)
        var seen = Set(roleOrder)
        var frontier = [providers[0]]
        var visited: Set<Int> = [providers[0]]
        while !frontier.isEmpty {
            var next: [Int] = []
            for a in frontier {
                for b in (neighbours[a] ?? []).sorted() where !visited.contains(b) {
                    visited.insert(b)
                    next.append(b)
                    if !seen.contains(b) {
                        seen.insert(b)
                        index[b] = asn.count
                        asn.append(b)
                        role.append(.transit)
                        space.append(0)
                        adjacency.append([])
                    }
                    adjacency[index[a]!].append(index[b]!)
                }
            }
            frontier = next
        }
        let accessCount = role.filter { $0 == .access }.count
        let (tree, reached) = Topology.tree(
            asn: asn, role: role, addressSpace: space, adjacency: adjacency, origin: origin,
            accessCapacity: accessLinkCapacity, coreCapacity: coreLinkCapacity,
            label: "\(country): \(accessCount) access ASes, origin AS\(providers[0]), \(routing.rawValue) routing")
        let unreachable = (0..<asn.count).filter { role[$0] == .access && !reached[$0] }
        if !unreachable.isEmpty {
            let sample = unreachable.prefix(5).map { "AS\(asn[$0])" }.joined(separator: ", ")
            throw SimulationError(
                .disconnectedTopology, linksPath,
                "\(unreachable.count) of \(accessCount) access ASes of `\(country)` cannot reach the origin AS\(providers[0]) over links seen on >= \(minDaysSeen) days (\(sample)...); use global routing or a lower minimum of days")
        }
        return tree.pruned()
    }

    /// Drops nodes that no access AS's path uses.
    func pruned() -> Topology {
        var used = Array(repeating: false, count: count)
        used[origin] = true
        for v in 0..<count where role[v] == .access {
            var n = v
            while n >= 0 && !used[n] {
                used[n] = true
                n = parent[n]
            }
        }
        var newIndex = Array(repeating: -1, count: count)
        var k = 0
        for v in 0..<count where used[v] {
            newIndex[v] = k
            k += 1
        }
        var result = self
        let keep = (0..<count).filter { used[$0] }
        result.asn = keep.map { asn[$0] }
        result.role = keep.map { role[$0] }
        result.addressSpace = keep.map { addressSpace[$0] }
        result.parent = keep.map { parent[$0] >= 0 ? newIndex[parent[$0]] : -1 }
        result.depth = keep.map { depth[$0] }
        result.uplinkCapacity = keep.map { uplinkCapacity[$0] }
        result.uplinkIsAccess = keep.map { uplinkIsAccess[$0] }
        result.origin = newIndex[origin]
        return result
    }

    /// Calls `body` with each line's 1-based number and tab-separated fields (a line's final
    /// carriage return dropped, empty lines skipped). The bytes are split as bytes: the links
    /// file has 212,000 lines, and splitting it as characters took most of loading a country.
    private static func forEachLine(
        _ path: String, _ body: (Int, [String]) throws(SimulationError) -> Void
    ) throws(SimulationError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SimulationError(.missingFile, path, "cannot read the file; check --data (the topology data folder)")
        }
        guard String(data: data, encoding: .utf8) != nil else {
            throw SimulationError(.malformedData, path, "not UTF-8 text")
        }
        let bytes = [UInt8](data)
        let newline = UInt8(ascii: "\n")
        let tab = UInt8(ascii: "\t")
        var fields: [String] = []
        var number = 0
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != newline { end += 1 }
            number += 1
            var last = end
            if last > start && bytes[last - 1] == UInt8(ascii: "\r") { last -= 1 }
            if last > start {
                fields.removeAll(keepingCapacity: true)
                var field = start
                for i in start...last where i == last || bytes[i] == tab {
                    fields.append(String(decoding: bytes[field..<i], as: UTF8.self))
                    field = i + 1
                }
                try body(number, fields)
            }
            start = end + 1
        }
    }
}
