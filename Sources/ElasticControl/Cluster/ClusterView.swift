import EtcdClient
import Logging
import Synchronization

/// One member's local copy of the cluster's keys, fed by a single etcd watch of the root prefix
/// (a snapshot, then events; resumed from the last revision after a reconnect, re-listed after a
/// compaction). Reads take a lock and never touch the network, so a router decides without an
/// etcd round trip.
public final class ClusterView: Sendable {
    public let keys: ClusterKeys
    private let state = Mutex(ClusterState())
    private let waiters = Mutex<(next: Int, all: [Int: AsyncStream<Void>.Continuation])>((0, [:]))
    private let logger: Logger

    public init(keys: ClusterKeys = ClusterKeys(), logger: Logger) {
        self.keys = keys
        self.logger = logger
    }

    /// Reads the current state.
    public func read<T>(_ body: (ClusterState) -> T) -> T {
        state.withLock { body($0) }
    }

    /// The whole current state (a copy).
    public var current: ClusterState { state.withLock { $0 } }

    /// Follows the cluster until the task is cancelled; `onDisconnect` and `onReconnect` let
    /// the owner log and count the outage.
    public func follow(_ client: EtcdClient) async {
        var disconnectedAt: ContinuousClock.Instant?
        for await update in client.observe(prefix: keys.root) {
            switch update {
            case .snapshot(let snapshot):
                var fresh = ClusterState()
                fresh.applyAll { s in
                    for kv in snapshot.keyValues {
                        s.apply(key: kv.key, keys: keys, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision)
                    }
                }
                fresh.revision = snapshot.revision
                fresh.synced = true
                fresh.connected = true
                state.withLock { $0 = fresh }
            case .events(let events, let revision):
                state.withLock { s in
                    s.applyAll { s in
                        for event in events {
                            let kv = event.keyValue
                            s.apply(key: kv.key, keys: keys, value: event.kind == .put ? kv.value : nil, createRevision: kv.createRevision, modRevision: kv.modRevision)
                        }
                    }
                    s.revision = max(s.revision, revision)
                    s.connected = true
                }
            case .disconnected(let error):
                disconnectedAt = .now
                state.withLock { $0.connected = false }
                logger.warning("etcd unreachable: serving from the last view", metadata: ["error": "\(error)"])
            }
            if let since = disconnectedAt, state.withLock({ $0.connected }) {
                logger.notice("etcd reachable again", metadata: ["outage.s": "\((ContinuousClock.now - since).seconds)"])
                disconnectedAt = nil
            }
            notify()
        }
    }

    /// A stream that yields after every applied change (coalesced), until dropped.
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = waiters.withLock { w in
            let id = w.next
            w.next += 1
            w.all[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.waiters.withLock { $0.all.removeValue(forKey: id) }
        }
        return stream
    }

    /// Waits until `condition` holds on the view, or `timeout` seconds pass; returns whether it held.
    public func wait(timeout: Double, until condition: @escaping @Sendable (ClusterState) -> Bool) async -> Bool {
        if read(condition) { return true }
        let changes = changes()
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in changes where self.read(condition) { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                return false
            }
            let result = await group.next() ?? false
            group.cancelAll()
            return result || self.read(condition)
        }
    }

    private func notify() {
        for continuation in waiters.withLock({ Array($0.all.values) }) { continuation.yield() }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
