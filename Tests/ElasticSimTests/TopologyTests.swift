import Foundation
import Testing

@testable import ElasticSim

struct TopologyTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/topology").path

    @Test func germanCountryGraphReachesEveryAccessASInOneToFiveHops() throws {
        // The original simulator's distances: every AS of de.tsv, links seen on >= 31 days.
        let t = try Topology.load(country: "de", dataDirectory: Self.fixtures)
        #expect(t.asn[t.origin] == 15598)
        let access = (0..<t.count).filter { t.role[$0] == .access }
        #expect(access.count == 588)
        var histogram: [Int: Int] = [:]
        for n in access { histogram[t.depth[n], default: 0] += 1 }
        #expect(histogram == [1: 8, 2: 218, 3: 339, 4: 21, 5: 2])
        let countryASes = Set(try String(contentsOfFile: "\(Self.fixtures)/de.tsv", encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: "\t").first ?? "") })
        #expect(t.asn.allSatisfy { countryASes.contains($0) }, "country routing stays inside Germany")
        #expect(t.role.contains(.transit), "ASes of de.tsv without a role carry paths as transit")
    }

    @Test func globalRoutingCrossesForeignASes() throws {
        let country = try Topology.load(country: "sk", dataDirectory: Self.fixtures)
        let global = try Topology.load(country: "sk", dataDirectory: Self.fixtures, routing: .global)
        let slovak = Set(try String(contentsOfFile: "\(Self.fixtures)/sk.tsv", encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: "\t").first ?? "") })
        #expect(country.asn.allSatisfy { slovak.contains($0) })
        #expect(global.asn.contains { !slovak.contains($0) }, "paths leave Slovakia, so foreign transit ASes appear")
        #expect(global.accessNodes.count == 47)
    }

    @Test func slovakSubsetLoadsWithEveryAccessASReachable() throws {
        let t = try Topology.load(country: "sk", dataDirectory: Self.fixtures)
        #expect(t.asn[t.origin] == 50128)
        #expect(t.role[t.origin] == .provider)
        #expect(t.accessNodes.count == 47)
        for n in 0..<t.count where n != t.origin {
            #expect(t.parent[n] >= 0)
            #expect(t.depth[n] == t.depth[t.parent[n]] + 1)
            let touchesAccess = t.role[n] == .access || t.role[t.parent[n]] == .access
            #expect(t.uplinkCapacity[n] == (touchesAccess ? 10e9 : 40e9))
        }
        // Address space comes from `#routeable IPv4` with thousands separators: AS8887 8,192.
        let access = try #require(t.asn.firstIndex(of: 8887))
        #expect(t.role[access] == .access)
        #expect(t.addressSpace[access] == 8192)
    }

    @Test func linksSeenOnFewerDaysAreIgnored() throws {
        // The fixture holds a 5-day link from the origin straight to AS50881.
        let strict = try Topology.load(country: "sk", dataDirectory: Self.fixtures, routing: .global)
        let loose = try Topology.load(country: "sk", dataDirectory: Self.fixtures, minDaysSeen: 1, routing: .global)
        let a = try #require(strict.asn.firstIndex(of: 50881))
        let b = try #require(loose.asn.firstIndex(of: 50881))
        #expect(strict.depth[a] == 3)
        #expect(loose.depth[b] == 1)
    }

    @Test func anAccessASCutOffFromTheOriginIsReported() throws {
        // Drop every link of AS8887 (an access AS): it can no longer reach the origin.
        let links = try String(contentsOfFile: "\(Self.fixtures)/as_links.tsv", encoding: .utf8)
            .split(separator: "\n").filter { !$0.split(separator: "\t").prefix(2).contains("8887") }
            .joined(separator: "\n") + "\n"
        let dir = try scratch(["as_links.tsv": links])
        #expect {
            try Topology.load(country: "sk", dataDirectory: dir)
        } throws: { error in
            let e = error as! SimulationError
            return e.code == .disconnectedTopology && e.location.hasSuffix("as_links.tsv")
                && e.message.contains("cannot reach the origin AS50128") && e.message.contains("AS8887")
        }
    }

    private func scratch(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecdn-topology-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["as_links.tsv", "sk.tsv", "sk-roles.tsv"] {
            let text = try files[name] ?? String(contentsOfFile: "\(Self.fixtures)/\(name)", encoding: .utf8)
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return dir.path
    }

    @Test func malformedLinkLineIsReportedWithFileAndLine() throws {
        var links = try String(contentsOfFile: "\(Self.fixtures)/as_links.tsv", encoding: .utf8)
        links = links.replacingOccurrences(of: "\n", with: "\nnot-a-link\n", options: [], range: links.range(of: "\n"))
        let dir = try scratch(["as_links.tsv": links])
        #expect {
            try Topology.load(country: "sk", dataDirectory: dir)
        } throws: { error in
            let e = error as! SimulationError
            return e.code == .malformedData && e.location == "\(dir)/as_links.tsv:2"
        }
    }

    @Test func filesWithWindowsLineEndingsLoadAsTheOriginals() throws {
        var files: [String: String] = [:]
        for name in ["as_links.tsv", "sk.tsv", "sk-roles.tsv"] {
            files[name] = try String(contentsOfFile: "\(Self.fixtures)/\(name)", encoding: .utf8)
                .replacingOccurrences(of: "\n", with: "\r\n")
        }
        let crlf = try Topology.load(country: "sk", dataDirectory: try scratch(files))
        let original = try Topology.load(country: "sk", dataDirectory: Self.fixtures)
        #expect(crlf.asn == original.asn && crlf.parent == original.parent)
        #expect(crlf.addressSpace == original.addressSpace && crlf.origin == original.origin)
    }

    @Test func unknownASInRolesIsReported() throws {
        let roles = try String(contentsOfFile: "\(Self.fixtures)/sk-roles.tsv", encoding: .utf8) + "4200000001\taccess\n"
        let dir = try scratch(["sk-roles.tsv": roles])
        #expect {
            try Topology.load(country: "sk", dataDirectory: dir)
        } throws: { error in
            let e = error as! SimulationError
            return e.code == .unknownAS && e.message.contains("AS4200000001")
        }
    }

    @Test func unknownRoleAndMissingFilesAreReported() throws {
        let roles = try String(contentsOfFile: "\(Self.fixtures)/sk-roles.tsv", encoding: .utf8) + "6855\teyeball\n"
        let dir = try scratch(["sk-roles.tsv": roles])
        #expect(throws: SimulationError.self) { try Topology.load(country: "sk", dataDirectory: dir) }
        #expect {
            try Topology.load(country: "zz", dataDirectory: Self.fixtures)
        } throws: { error in
            (error as! SimulationError).code == .missingFile
        }
    }

    @Test func syntheticTopologiesAreTreesRootedAtTheOrigin() {
        let tree = Topology.syntheticTree(fanout: 3, depth: 3, seed: 1)
        #expect(tree.count == 1 + 3 + 9 + 27)
        #expect(tree.accessNodes.count == 27)
        #expect(tree.accessNodes.allSatisfy { tree.depth[$0] == 3 })
        let ba = Topology.syntheticBarabasiAlbert(nodes: 300, attach: 2, seed: 7)
        let again = Topology.syntheticBarabasiAlbert(nodes: 300, attach: 2, seed: 7)
        #expect(ba.parent == again.parent)
        #expect(!ba.accessNodes.isEmpty)
        for n in 0..<ba.count where n != ba.origin { #expect(ba.parent[n] >= 0) }
    }
}
