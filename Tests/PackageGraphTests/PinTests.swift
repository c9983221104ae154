import Testing

/// Two clones must build the same versions of the libraries on the hot path (the package ships
/// executables and quotes benchmark ratios), while Package.resolved stays uncommitted.
@Suite struct PinTests {
    /// The libraries every request runs through.
    static let hotPath = ["swift-nio", "swift-nio-ssl", "swift-nio-http2", "swift-collections", "swift-system", "swift-crypto"]

    @Test("hot-path libraries are pinned to one minor version or exactly")
    func hotPathIsPinned() async throws {
        let graph = try await PackageGraph.shared.value
        let declared = Self.hotPath.filter { graph.requirements[$0] != nil }
        #expect(declared.contains("swift-nio"), "swift-nio is not a dependency in Package.swift")
        for identity in declared {
            switch graph.requirements[identity]! {
            case .exact:
                break
            case .range(let from, let upTo):
                let parts = from.split(separator: ".").compactMap { Int($0) }
                let nextMinor = parts.count >= 2 ? "\(parts[0]).\(parts[1] + 1).0" : "?"
                #expect(upTo == nextMinor, "\(identity) allows \(from)..<\(upTo): pin it with .upToNextMinor(from: \"\(from)\") or exact:")
            case .other(let text):
                Issue.record("\(identity) is required as \(text): pin a released version with .upToNextMinor(from:) or exact:")
            }
        }
    }

    @Test("every dependency names a released version, not a branch or revision")
    func dependenciesAreReleases() async throws {
        let graph = try await PackageGraph.shared.value
        for (identity, requirement) in graph.requirements {
            if case .other(let text) = requirement {
                Issue.record("\(identity) is required as \(text): the local mirror's revisions are its own; name a version")
            }
        }
    }
}
