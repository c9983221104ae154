import Foundation
import Testing

/// The module graph that shared/DESIGN.md and docs/architecture.md describe, checked against the
/// graph SwiftPM builds: an edge the design forbids fails here, with the rule it breaks.
@Suite struct ModuleGraphTests {
    /// The data plane: what `minicache` and `shfs` link. It starts in milliseconds and never links
    /// the full Foundation, so it reaches only these modules of ours…
    static let dataPlaneModules: Set<String> = ["CLinuxCalls", "SHFS", "CacheEviction", "HTTPToolkit", "MiniCacheServer", "minicache", "shfs"]
    /// …and only these packages (none of which imports Foundation; gRPC and AsyncHTTPClient do).
    static let dataPlanePackages: Set<String> = [
        "swift-nio", "swift-nio-ssl", "swift-nio-http2", "swift-nio-extras", "swift-log", "swift-metrics",
        "swift-prometheus", "swift-service-lifecycle", "swift-system", "swift-crypto", "swift-argument-parser",
        "swift-collections", "swift-atomics", "swift-http-types", "swift-certificates", "swift-asn1",
    ]

    @Test("the data plane reaches only data-plane modules and Foundation-free packages", arguments: ["minicache", "shfs", "MiniCacheServer", "SHFS", "HTTPToolkit"])
    func dataPlaneStaysSmall(target: String) async throws {
        let graph = try await PackageGraph.shared.value
        try #require(graph.targets[target] != nil, "no target \(target) in Package.swift")
        let outside = graph.closure(of: target).subtracting(Self.dataPlaneModules)
        #expect(outside.isEmpty, "\(target) depends on \(outside.sorted()): the data plane must not link the control plane, the simulator or their tools")
        let packages = Set(graph.productClosure(of: target).map { String($0.split(separator: "/").first ?? "") })
        let foreign = packages.subtracting(Self.dataPlanePackages)
        #expect(foreign.isEmpty, "\(target) reaches the packages \(foreign.sorted()), which the data plane does not link (they bring Foundation or weight)")
    }

    @Test("the shared HTTP toolkit depends on no module of ours")
    func toolkitIsAtTheBottom() async throws {
        let graph = try await PackageGraph.shared.value
        #expect(graph.targets["HTTPToolkit"]?.targets == [], "HTTPToolkit is shared by the data plane and the control plane; it may depend only on swift-nio and swift-log")
    }

    @Test("the pure modules (policy, workload, eviction) depend on nothing heavy", arguments: ["ElasticPolicy", "Workload", "CacheEviction"])
    func pureModulesArePure(target: String) async throws {
        let graph = try await PackageGraph.shared.value
        let node = try #require(graph.targets[target])
        #expect(node.targets.isEmpty, "\(target) depends on \(node.targets): it is pure decision or model code, shared by the simulator and the live system")
        let heavy = node.products.filter { !$0.hasPrefix("swift-collections/") }
        #expect(heavy.isEmpty, "\(target) depends on \(heavy): only swift-collections is allowed here")
    }

    @Test("the control plane never links the simulator or the data plane")
    func controlPlaneStaysApart() async throws {
        let graph = try await PackageGraph.shared.value
        let reached = graph.closure(of: "ElasticControl")
        let forbidden = reached.intersection(["ElasticSim", "MiniCacheServer", "minicache", "MediaOrigin", "PlayerLoad", "ecdn"])
        #expect(forbidden.isEmpty, "ElasticControl depends on \(forbidden.sorted()): it talks to minicache over its admin API, shares policy code through ElasticPolicy, and the tools build on it, never the reverse")
    }

    @Test("the simulator never links the live system")
    func simulatorStaysOffline() async throws {
        let graph = try await PackageGraph.shared.value
        let reached = graph.closure(of: "ElasticSim")
        let forbidden = reached.intersection(["ElasticControl", "MiniCacheServer", "HTTPToolkit", "EtcdClient", "SHFS", "MediaOrigin", "PlayerLoad"])
        #expect(forbidden.isEmpty, "ElasticSim depends on \(forbidden.sorted()): the simulator runs the same ElasticPolicy on a virtual clock, without I/O")
        let io = graph.productClosure(of: "ElasticSim").filter { $0.hasPrefix("swift-nio") || $0.hasPrefix("grpc") }
        #expect(io.isEmpty, "ElasticSim reaches \(io.sorted()): the simulator does no network I/O")
    }

    @Test("the demo origin and the load generator are tools: nothing of the product depends on them, and they do not depend on the control plane", arguments: ["MediaOrigin", "PlayerLoad"])
    func toolsAreLeaves(tool: String) async throws {
        let graph = try await PackageGraph.shared.value
        let dependents = graph.targets.values.filter { $0.type == "regular" && $0.targets.contains(tool) }.map(\.name)
        #expect(dependents.isEmpty, "\(dependents.sorted()) depend on the tool \(tool): only executables and tests may")
        let forbidden = graph.closure(of: tool).intersection(["ElasticSim", "MiniCacheServer", "ElasticControl", "EtcdClient", "CSandbox"])
        #expect(forbidden.isEmpty, "\(tool) depends on \(forbidden.sorted()): the tools speak HTTP through HTTPToolkit and have error types of their own; the control plane is not a library of theirs")
    }

    @Test("data-plane sources never import the full Foundation")
    func dataPlaneSourcesImportNoFoundation() throws {
        let sources = PackageGraph.root.appendingPathComponent("Sources")
        var offenders: [String] = []
        for module in Self.dataPlaneModules {
            let folder = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { continue }
            for case let file as URL in files where file.pathExtension == "swift" {
                let text = try String(contentsOf: file, encoding: .utf8)
                let importsFoundation = text.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == "import Foundation" }
                // Allowed only as the fallback of `#if canImport(FoundationEssentials)` (for macOS).
                if importsFoundation && !text.contains("canImport(FoundationEssentials)") {
                    offenders.append("\(module)/\(file.lastPathComponent)")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders.sorted()) import Foundation: the data plane uses FoundationEssentials, swift-system and NIO types")
    }
}
