import Logging
import Synchronization

/// The backends of all sites behind one ``SiteBackend``: each site's instances go to the backend
/// of its ``SiteConfiguration/backend`` kind (one backend per kind, created on first use at init).
public final class SiteBackends: SiteBackend {
    /// The backend of each kind in use.
    public let backends: [BackendKind: any SiteBackend]
    private let siteKinds: [String: BackendKind]
    private let defaultKind: BackendKind
    private let owners = Mutex<[String: BackendKind]>([:])

    /// - Throws: ``ControlError`` from a backend that cannot be created here.
    public init(sites: [SiteConfiguration], settings: BackendSettings, logger: Logger) throws(ControlError) {
        var backends: [BackendKind: any SiteBackend] = [:]
        var siteKinds: [String: BackendKind] = [:]
        for site in sites {
            siteKinds[site.name] = site.backend
            if backends[site.backend] == nil {
                backends[site.backend] = try site.backend.makeBackend(settings, logger: logger)
            }
        }
        self.backends = backends
        self.siteKinds = siteKinds
        self.defaultKind = sites.first?.backend ?? .process
    }

    /// The kinds in use, joined (`process`, `process+sandbox`).
    public var kind: String {
        BackendKind.allCases.filter { backends[$0] != nil }.map(\.rawValue).joined(separator: "+")
    }

    public func kind(forSite site: String) -> String {
        (siteKinds[site] ?? defaultKind).rawValue
    }

    /// The backend that runs `site`'s instances.
    public func backend(forSite site: String) -> (any SiteBackend)? {
        backends[siteKinds[site] ?? defaultKind]
    }

    private func owner(of id: String) -> (any SiteBackend)? {
        owners.withLock { $0[id] }.flatMap { backends[$0] }
    }

    public func launch(_ spec: InstanceSpec) async throws(ControlError) {
        let kind = siteKinds[spec.site] ?? defaultKind
        guard let backend = backends[kind] else {
            throw ControlError(.badConfiguration, "site \(spec.site) has no backend")
        }
        owners.withLock { $0[spec.id] = kind }
        do {
            try await backend.launch(spec)
        } catch {
            owners.withLock { $0[spec.id] = nil }
            throw error
        }
    }

    public func probe(_ id: String) -> InstanceProbe {
        owner(of: id)?.probe(id) ?? .exited("unknown instance")
    }

    @discardableResult
    public func terminate(_ id: String, grace: Double) async -> String {
        guard let backend = owner(of: id) else { return "unknown instance" }
        let how = await backend.terminate(id, grace: grace)
        owners.withLock { $0[id] = nil }
        return how
    }

    public func kill(_ id: String) {
        owner(of: id)?.kill(id)
    }

    public func terminateAll(grace: Double) async {
        await withTaskGroup(of: Void.self) { group in
            for backend in backends.values {
                group.addTask { await backend.terminateAll(grace: grace) }
            }
        }
        owners.withLock { $0.removeAll() }
    }

    public func pid(of id: String) -> Int32? {
        owner(of: id)?.pid(of: id)
    }

    public func note(of id: String) -> String? {
        owner(of: id)?.note(of: id)
    }

    public func awaitReady(_ id: String, upTo seconds: Double) async {
        if let backend = owner(of: id) {
            await backend.awaitReady(id, upTo: seconds)
        } else {
            try? await Task.sleep(for: .microseconds(Int64(seconds * 1_000_000)))
        }
    }

    public func signalsReady(_ id: String) -> Bool {
        owner(of: id)?.signalsReady(id) ?? false
    }

    public func readyTimeout(forSite site: String) -> Double? {
        backend(forSite: site)?.readyTimeout(forSite: site)
    }

    public func adopt() async -> [AdoptedInstance] {
        var found: [AdoptedInstance] = []
        for (kind, backend) in backends {
            let adopted = await backend.adopt()
            owners.withLock { owners in
                for instance in adopted {
                    if case .exited = instance.probe { continue }
                    owners[instance.spec.id] = kind
                }
            }
            found += adopted
        }
        return found
    }
}
