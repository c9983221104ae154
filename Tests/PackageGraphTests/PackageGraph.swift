import Foundation
import MiniCacheTesting

/// The package's targets and dependencies as `swift package dump-package` reports them: the graph
/// as SwiftPM builds it, not as a comment describes it.
struct PackageGraph: Sendable {
    /// One target and what it names directly.
    struct Target: Sendable {
        var name: String
        var type: String
        /// Targets of this package it depends on.
        var targets: [String]
        /// Products of other packages it depends on, as `package/product`.
        var products: [String]
    }

    /// How a dependency's versions are limited.
    enum Requirement: Sendable, Equatable {
        case exact(String)
        case range(from: String, upTo: String)
        case other(String)
    }

    var targets: [String: Target]
    /// Package identity → its version requirement.
    var requirements: [String: Requirement]

    /// The package root, found from this file's path (Tests/PackageGraphTests/…).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The graph, loaded once for every test that reads it (the first to ask starts the load, the
    /// others wait for it without holding a thread).
    static let shared = Task { try await load() }

    /// Runs `swift package dump-package` on the package root (in a scratch folder of its own, so
    /// it does not wait for the build's lock) and reads its JSON.
    static func load() async throws -> PackageGraph {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("package-graph-\(getpid())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let run = try await ProcessRun.run(
            "/usr/bin/env", ["swift", "package", "--package-path", root.path, "--scratch-path", scratch.path, "dump-package"]
        )
        guard run.status == 0 else {
            throw GraphError(description: "swift package dump-package failed: \(run.error)")
        }
        return try PackageGraph(json: Data(run.standardOutput))
    }

    init(json data: Data) throws {
        guard let document = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let targetList = document["targets"] as? [[String: Any]],
            let dependencyList = document["dependencies"] as? [[String: Any]]
        else { throw GraphError(description: "dump-package printed no targets or dependencies") }

        var targets: [String: Target] = [:]
        for entry in targetList {
            guard let name = entry["name"] as? String else { continue }
            var target = Target(name: name, type: entry["type"] as? String ?? "", targets: [], products: [])
            for dependency in entry["dependencies"] as? [[String: Any]] ?? [] {
                if let product = dependency["product"] as? [Any], let productName = product.first as? String {
                    target.products.append("\(product.count > 1 ? (product[1] as? String ?? "") : "")/\(productName)")
                } else if let byName = (dependency["byName"] ?? dependency["target"]) as? [Any], let targetName = byName.first as? String {
                    target.targets.append(targetName)
                }
            }
            targets[name] = target
        }

        var requirements: [String: Requirement] = [:]
        for entry in dependencyList {
            guard let source = (entry["sourceControl"] as? [[String: Any]])?.first, let identity = source["identity"] as? String else { continue }
            let requirement = source["requirement"] as? [String: Any] ?? [:]
            if let exact = (requirement["exact"] as? [String])?.first {
                requirements[identity] = .exact(exact)
            } else if let range = (requirement["range"] as? [[String: String]])?.first, let from = range["lowerBound"], let upTo = range["upperBound"] {
                requirements[identity] = .range(from: from, upTo: upTo)
            } else {
                requirements[identity] = .other("\(requirement)")
            }
        }
        self.targets = targets
        self.requirements = requirements
    }

    /// Every target `name` reaches through target dependencies, itself excluded.
    func closure(of name: String) -> Set<String> {
        var seen: Set<String> = []
        var stack = targets[name]?.targets ?? []
        while let next = stack.popLast() {
            if seen.insert(next).inserted { stack += targets[next]?.targets ?? [] }
        }
        return seen
    }

    /// Every product of another package that `name` reaches, directly or through its targets.
    func productClosure(of name: String) -> Set<String> {
        ([name] + closure(of: name)).reduce(into: Set<String>()) { result, target in
            result.formUnion(targets[target]?.products ?? [])
        }
    }
}

struct GraphError: Error, CustomStringConvertible {
    var description: String
}
