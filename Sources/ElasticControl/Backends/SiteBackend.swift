/// What a backend needs to start one cache instance.
public struct InstanceSpec: Sendable, Equatable {
    /// Unique id, e.g. `site1-default-3`.
    public var id: String
    public var site: String
    public var tenant: String
    /// The address the instance serves on (inside its site's prefix).
    public var address: String
    public var port: Int
    /// The admin listener (`/admin/status`).
    public var adminPort: Int
    /// The tenant's origin, `http://host:port`.
    public var origin: String
    /// The data listener serves HTTPS (with the backend's ``ProcessBackendConfiguration/tls``
    /// certificate) instead of HTTP; the admin listener stays plain.
    public var tls: Bool

    public init(id: String, site: String, tenant: String, address: String, port: Int, adminPort: Int, origin: String, tls: Bool = false) {
        self.tls = tls
        self.id = id
        self.site = site
        self.tenant = tenant
        self.address = address
        self.port = port
        self.adminPort = adminPort
        self.origin = origin
    }

    /// `http://address:port`, or `https://` with ``tls``.
    public var url: String { "\(tls ? "https" : "http")://\(address):\(port)" }
    /// `http://address:adminPort`.
    public var adminURL: String { "http://\(address):\(adminPort)" }
}

/// What a backend knows about an instance it launched.
public enum InstanceProbe: Sendable, Equatable {
    /// Launched, not serving yet.
    case booting
    /// Serving (its ready signal arrived).
    case ready
    /// Gone; the reason says how.
    case exited(String)
}

/// An instance a backend finds when its owner starts again (``SiteBackend/adopt()``).
public struct AdoptedInstance: Sendable, Equatable {
    public var spec: InstanceSpec
    /// Where it is now: `.ready` or `.booting` when it still runs (and is attached again), or
    /// `.exited` when it ended while nobody watched.
    public var probe: InstanceProbe

    public init(spec: InstanceSpec, probe: InstanceProbe) {
        self.spec = spec
        self.probe = probe
    }
}

/// Starts and stops MiniCache instances at a site: child processes, sandboxes, OCI containers,
/// microVMs (``BackendKind`` lists them all; ``SiteBackends`` picks one per site).
///
/// A backend used by a site agent (`ecdn agent`) should let instances outlive the agent and
/// implement ``adopt()``: after an agent restart the agent adopts what still runs instead of
/// starting it again (a serving cache is never restarted because its agent was).
public protocol SiteBackend: Sendable {
    /// A short name for logs and the API (`process`).
    var kind: String { get }
    /// The kind that runs `site`'s instances (the `backend` of its instance records).
    func kind(forSite site: String) -> String
    /// Launches an instance; returns once it is launched, not when it serves (see ``probe(_:)``).
    /// - Throws: ``ControlError`` when it cannot be launched.
    func launch(_ spec: InstanceSpec) async throws(ControlError)
    /// Cheap, non-blocking: where the instance is in its life.
    func probe(_ id: String) -> InstanceProbe
    /// Stops an instance gracefully (SIGTERM or the like), forcibly after `grace` seconds, and
    /// frees what it used. Returns how it ended.
    @discardableResult
    func terminate(_ id: String, grace: Double) async -> String
    /// Kills an instance at once (fault injection, and instances that stopped answering).
    func kill(_ id: String)
    /// Stops every instance (at shutdown).
    func terminateAll(grace: Double) async
    /// The host process id of a running instance (fault injection in tests), if it has one.
    func pid(of id: String) -> Int32?
    /// What is worth knowing about how a running instance runs (a microVM under TCG, and why),
    /// for its record's `reason` and its `ready` event; nil when nothing is.
    func note(of id: String) -> String?
    /// Seconds `site`'s instances may take from launch to ready when this backend needs more
    /// than the controller's `readyTimeout` (a microVM booting under TCG); nil: the controller's.
    func readyTimeout(forSite site: String) -> Double?
    /// Suspends until `id` may have turned ready — the moment its ready signal arrives, for a
    /// backend that has one (``signalsReady(_:)``) — or `seconds` passed; callers probe after it.
    /// The default sleeps `seconds`.
    func awaitReady(_ id: String, upTo seconds: Double) async
    /// Whether ``awaitReady(_:upTo:)`` returns as soon as `id` is ready. The default: false.
    func signalsReady(_ id: String) -> Bool
    /// Instances a previous owner of this backend's state (same work folder, same host) started:
    /// each one that still runs is attached again, so that ``probe(_:)``, ``terminate(_:grace:)``
    /// and ``kill(_:)`` work on it as if launched here; each one that ended is reported once
    /// and its files are freed. Called once, before the first launch. The default finds nothing.
    func adopt() async -> [AdoptedInstance]
}

extension SiteBackend {
    public func kind(forSite site: String) -> String { kind }
    public func pid(of id: String) -> Int32? { nil }
    public func note(of id: String) -> String? { nil }
    public func readyTimeout(forSite site: String) -> Double? { nil }
    public func adopt() async -> [AdoptedInstance] { [] }
    public func awaitReady(_ id: String, upTo seconds: Double) async {
        try? await Task.sleep(for: .microseconds(Int64(seconds * 1_000_000)))
    }
    public func signalsReady(_ id: String) -> Bool { false }
}

extension SiteBackend {
    /// Waits between two probes of the starting instance `id`, `elapsed` seconds after its
    /// launch: until its ready signal (at most 50 ms, so an early exit is still seen soon) when
    /// the backend has one, else 1 ms while a fast start is expected and 5 ms after 200 ms.
    func pauseWhileStarting(_ id: String, elapsed: Double) async {
        if signalsReady(id) {
            await awaitReady(id, upTo: 0.05)
        } else {
            await awaitReady(id, upTo: elapsed < 0.2 ? 0.001 : 0.005)
        }
    }
}

extension SiteBackend {
    /// Terminates the instances `ids` all at once: what a backend's ``terminateAll(grace:)``
    /// does before it frees what its instances shared.
    func terminateEach(_ ids: [String], grace: Double) async {
        await withTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { await self.terminate(id, grace: grace) }
            }
        }
    }
}
