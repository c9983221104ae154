import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A router's own knowledge of which caches it can reach, so it stops sending viewers to a
/// cache whose host is cut off or whose process died long before the agent's lease lapses.
///
/// Two kinds of check, each a TCP connect to the instance's data port:
/// - every ``ClusterRouterConfiguration/cacheCheckInterval`` seconds, each ready instance of
///   the view (as a load balancer health-checks its upstreams);
/// - a viewer that comes back for content it was already sent to a cache for has most likely
///   failed there (players stay on their cache until something goes wrong): before it is sent
///   to that cache again, the router checks it with a connect that starts after the viewer
///   arrived, so the answer reflects the cache as the viewer found it.
///
/// A cache that fails a check is routed around until a check succeeds again.
final class CacheChecks: Sendable {
    /// A cache to check.
    struct Target: Hashable, Sendable {
        var id: String
        var host: String
        var port: Int
    }

    private struct State {
        /// Instance id → why it is unreachable.
        var unreachable: [String: String] = [:]
        var checks = 0
        var failures = 0
    }

    private let timeout: TimeAmount
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())

    init(timeout: Double, group: any EventLoopGroup, logger: Logger) {
        self.timeout = .milliseconds(Int64(max(timeout, 0.001) * 1000))
        self.group = group
        self.logger = logger
    }

    /// Whether the last check of instance `id` failed.
    func isUnreachable(_ id: String) -> Bool { state.withLock { $0.unreachable[id] != nil } }

    /// Instances whose last check failed.
    var unreachable: Set<String> { state.withLock { Set($0.unreachable.keys) } }

    /// Checks made and checks failed since the start.
    var counts: (checks: Int, failures: Int) { state.withLock { ($0.checks, $0.failures) } }

    /// Checks `target` now and records the answer; true when it accepted a connection.
    @discardableResult
    func check(_ target: Target) async -> Bool {
        let failure: String?
        do {
            let channel = try await ClientBootstrap(group: group).connectTimeout(timeout)
                .connect(host: target.host, port: target.port).get()
            try? await channel.close()
            failure = nil
        } catch {
            failure = "\(error)"
        }
        let (wasReachable, reachable) = state.withLock { s -> (Bool, Bool) in
            let wasReachable = s.unreachable[target.id] == nil
            s.checks += 1
            if let failure {
                s.failures += 1
                s.unreachable[target.id] = failure
            } else {
                s.unreachable[target.id] = nil
            }
            return (wasReachable, failure == nil)
        }
        if wasReachable && !reachable {
            logger.warning(
                "cache unreachable: routing its viewers elsewhere",
                metadata: ["instance.id": "\(target.id)", "instance.address": "\(target.host):\(target.port)", "error": "\(failure ?? "")"]
            )
        } else if !wasReachable && reachable {
            logger.notice("cache reachable again", metadata: ["instance.id": "\(target.id)"])
        }
        return reachable
    }

    /// Checks every target, `concurrency` at a time (a site with thousands of caches must not
    /// cost thousands of sockets at once).
    func check(all targets: [Target], concurrency: Int = 64) async {
        await withTaskGroup(of: Void.self) { group in
            var pending = targets[...]
            for target in pending.prefix(concurrency) { group.addTask { await self.check(target) } }
            pending = pending.dropFirst(concurrency)
            for await _ in group {
                guard let target = pending.popFirst() else { continue }
                group.addTask { await self.check(target) }
            }
        }
    }

    /// Forgets instances that are no longer in the view.
    func retain(_ ids: Set<String>) {
        state.withLock { s in s.unreachable = s.unreachable.filter { ids.contains($0.key) } }
    }
}
