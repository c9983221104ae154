import Foundation
import Workload

/// Viewer-session traces to replay instead of the synthetic workload (`workload.trace`).
///
/// Two CSV formats, told apart by their header:
/// - the trace `ecdn simulate --trace` writes: `arrival_s,asn,content,bitrate_bps,view_s`
///   (viewers with negative arrival times were present at time 0: they start as a warm
///   population, playing from a full buffer);
/// - a generic one with the columns `time,client,content,bitrate,duration` in any order (other
///   columns are ignored): `client` is an AS number (`3320` or `AS3320`) or an IPv4 address,
///   `content` any label, `bitrate` in bits per second, `duration` the seconds watched.
///
/// Addresses are mapped, each consistently, onto access ASes in proportion to their address
/// space (as CDNSim maps the masked addresses of its traces); bitrates onto the nearest rung of
/// the ladder; content labels onto ids in order of first appearance (unless all are whole
/// numbers, which keep theirs).
public enum TraceFile {
    /// Reads a trace for `topology`.
    ///
    /// - Throws: ``SimulationError`` naming the file and line of a malformed row, an unknown
    ///   AS, or a header that is neither format.
    static func load(path: String, topology: Topology, scenario: Scenario) throws(SimulationError) -> [Simulation.ScriptedArrival] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw SimulationError(.missingFile, path, "cannot read the trace file")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first else {
            throw SimulationError(.invalidScenario, path, "the trace is empty; expected a header line")
        }
        let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let own = ["arrival_s", "asn", "content", "bitrate_bps", "view_s"]
        let generic = ["time", "client", "content", "bitrate", "duration"]
        let columns: [Int]
        if names == own {
            columns = Array(0..<5)
        } else if generic.allSatisfy(names.contains) {
            columns = generic.map { names.firstIndex(of: $0)! }
        } else {
            throw SimulationError(.invalidScenario, "\(path):1", "unknown header; expected `\(own.joined(separator: ","))` or the columns \(generic.joined(separator: ", "))")
        }

        var nodeOf: [Int: Int] = [:]
        for n in 0..<topology.count where n != topology.origin { nodeOf[topology.asn[n]] = n }
        let accessNodes = topology.accessNodes
        let placement = WeightedChoice(weights: accessNodes.map { topology.addressSpace[$0] })
        var addressNode: [String: Int] = [:]
        var addressRNG = RandomSource(seed: scenario.seed, stream: 21)
        var labels: [String] = []
        let ladder = scenario.workload.bitrates

        var arrivals: [Simulation.ScriptedArrival] = []
        arrivals.reserveCapacity(lines.count - 1)
        for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let place = "\(path):\(i + 1)"
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= names.count else {
                throw SimulationError(.malformedData, place, "expected \(names.count) comma-separated fields, got \(fields.count)")
            }
            let field = { (k: Int) in fields[columns[k]] }
            guard let time = Double(field(0)), time.isFinite else {
                throw SimulationError(.malformedData, place, "`\(names[columns[0]])` must be a number of seconds, got \"\(field(0))\"")
            }
            let client = field(1)
            let node: Int
            if client.contains(".") {
                guard client.split(separator: ".").count == 4, client.split(separator: ".").allSatisfy({ UInt8($0) != nil }) else {
                    throw SimulationError(.malformedData, place, "client \"\(client)\" is neither an AS number nor an IPv4 address")
                }
                if let known = addressNode[client] {
                    node = known
                } else {
                    node = accessNodes[placement.draw(&addressRNG)]
                    addressNode[client] = node
                }
            } else {
                let digits = client.uppercased().hasPrefix("AS") ? String(client.dropFirst(2)) : client
                guard let asn = Int(digits) else {
                    throw SimulationError(.malformedData, place, "client \"\(client)\" is neither an AS number nor an IPv4 address")
                }
                guard let known = nodeOf[asn] else {
                    throw SimulationError(.unknownAS, place, "AS\(asn) is not in the topology (\(topology.label))")
                }
                node = known
            }
            labels.append(field(2))
            guard let bitrate = Double(field(3)), bitrate > 0 else {
                throw SimulationError(.malformedData, place, "`\(names[columns[3]])` must be a positive number of bits per second, got \"\(field(3))\"")
            }
            guard let seconds = Double(field(4)), seconds > 0, seconds.isFinite else {
                throw SimulationError(.malformedData, place, "`\(names[columns[4]])` must be a positive number of seconds, got \"\(field(4))\"")
            }
            let rung = ladder.indices.min { abs(log(ladder[$0] / bitrate)) < abs(log(ladder[$1] / bitrate)) }!
            arrivals.append(Simulation.ScriptedArrival(time: time, node: node, content: 0, bitrateIndex: rung, seconds: seconds))
        }
        // Whole-number labels keep their numbers; otherwise every label gets an id in order of
        // first appearance.
        let numbers = labels.map { Int($0) }
        if numbers.allSatisfy({ ($0 ?? -1) >= 0 }) {
            for i in arrivals.indices { arrivals[i].content = numbers[i]! }
        } else {
            var ids: [String: Int] = [:]
            for i in arrivals.indices {
                let next = ids.count
                arrivals[i].content = ids[labels[i], default: next]
                ids[labels[i]] = arrivals[i].content
            }
        }
        return arrivals
    }
}
