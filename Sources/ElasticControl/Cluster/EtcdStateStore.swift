import EtcdClient
import Synchronization

/// The ``StateStore`` on etcd: instance records under `status/`, desired counts under
/// `desired/`, named leases under `leases/` (each an etcd lease of the asked TTL), watches from
/// one etcd watch. Several processes that share an etcd share this store; the controller of
/// `ecdn up` acts only while it holds the `controller` lease.
///
/// The distributed roles (``ClusterController``, ``SiteAgent``, ``ClusterRouter``) use the same
/// client and key layout (``ClusterKeys``) with more of etcd: elections, transactions on
/// revisions, watches from a revision.
public final class EtcdStateStore: StateStore {
    public let client: EtcdClient
    public let keys: ClusterKeys
    /// The etcd lease behind each named lease this store holds.
    private let heldLeases = Mutex<[String: Int64]>([:])

    /// - Parameter client: a connected client; the store does not close it.
    public init(client: EtcdClient, keys: ClusterKeys = ClusterKeys()) {
        self.client = client
        self.keys = keys
    }

    public func put(_ record: InstanceRecord) async throws(ControlError) {
        let value = ClusterRecords.encode(StatusRecord(agent: "", instance: record, lastActivity: record.readyAt ?? record.startedAt))
        _ = try await map("store instance \(record.id)") { () throws(EtcdError) in
            try await client.put(keys.status(site: record.site, id: record.id), value: value)
        }
    }

    public func remove(id: String) async throws(ControlError) {
        for record in try await instances() where record.id == id {
            _ = try await map("remove instance \(id)") { () throws(EtcdError) in
                try await client.delete(keys.status(site: record.site, id: id))
            }
        }
    }

    public func instances() async throws(ControlError) -> [InstanceRecord] {
        let snapshot = try await map("list instances") { () throws(EtcdError) in try await client.snapshot(prefix: keys.status) }
        return snapshot.keyValues.compactMap { ClusterRecords.decode(StatusRecord.self, from: $0.value)?.instance }
            .sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
    }

    public func setDesired(_ key: DesiredKey, count: Int) async throws(ControlError) {
        let path = keys.desired(site: key.site, tenant: key.tenant)
        let value = ClusterRecords.encode(DesiredRecord(count: count))
        // Unchanged values are not written again, so watchers see changes only.
        _ = try await map("set desired \(key.site)/\(key.tenant)") { () throws(EtcdError) in
            try await client.transaction(if: [EtcdCompare(key: path, .equal, .value(value))], then: [], else: [.put(key: path, value: value)])
        }
    }

    public func desired() async throws(ControlError) -> [DesiredKey: Int] {
        let snapshot = try await map("list desired counts") { () throws(EtcdError) in try await client.snapshot(prefix: keys.desired) }
        var result: [DesiredKey: Int] = [:]
        for kv in snapshot.keyValues {
            let parts = keys.components(kv.key)
            guard parts.count == 3, let record = ClusterRecords.decode(DesiredRecord.self, from: kv.value) else { continue }
            result[DesiredKey(site: String(parts[1]), tenant: String(parts[2]))] = record.count
        }
        return result
    }

    /// Takes or renews `name` for `holder` with a fresh etcd lease of `ttl` seconds (rounded up;
    /// etcd raises very short ones to its minimum). `now` is not used: etcd's clock decides.
    public func acquireLease(_ name: String, holder: String, ttl: Double, now: Double) async throws(ControlError) -> Bool {
        let path = keys.lease(name)
        let value = ClusterRecords.encode(LeaseHolderRecord(holder: holder))
        let lease = try await map("grant a lease") { () throws(EtcdError) in try await client.grantLease(ttl: Int64(ttl.rounded(.up))) }
        let result = try await map("take the lease \(name)") { () throws(EtcdError) in
            try await client.transaction(
                if: [EtcdCompare(key: path, .equal, .createRevision(0))], then: [.put(key: path, value: value, lease: lease.id)],
                else: []
            )
        }
        var won = result.succeeded
        if !won {
            let renewal = try await map("renew the lease \(name)") { () throws(EtcdError) in
                try await client.transaction(
                    if: [EtcdCompare(key: path, .equal, .value(value))], then: [.put(key: path, value: value, lease: lease.id)], else: []
                )
            }
            won = renewal.succeeded
        }
        let previous: Int64? = heldLeases.withLock { held in
            if won { return held.updateValue(lease.id, forKey: name) }
            return nil
        }
        if let stale = won ? previous : lease.id { try? await client.revokeLease(stale) }
        return won
    }

    public func watch() async -> AsyncStream<StoreEvent> {
        let keys = keys
        // Changes from now on: the watch starts after the revision read here.
        let start = (try? await client.snapshot(prefix: keys.leader).revision).map { $0 + 1 }
        let updates = client.observe(prefix: keys.root, from: start)
        let (stream, continuation) = AsyncStream<StoreEvent>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let task = Task {
            for await update in updates {
                guard case .events(let events, _) = update else { continue }
                for event in events {
                    let parts = keys.components(event.keyValue.key)
                    guard parts.count == 3 else { continue }
                    switch (parts[0], event.kind) {
                    case ("status", .put):
                        if let record = ClusterRecords.decode(StatusRecord.self, from: event.keyValue.value) { continuation.yield(.instance(record.instance)) }
                    case ("status", .delete):
                        continuation.yield(.removed(id: String(parts[2])))
                    case ("desired", .put):
                        if let record = ClusterRecords.decode(DesiredRecord.self, from: event.keyValue.value) {
                            continuation.yield(.desired(DesiredKey(site: String(parts[1]), tenant: String(parts[2])), record.count))
                        }
                    default:
                        break
                    }
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func map<T>(_ what: String, _ body: () async throws(EtcdError) -> T) async throws(ControlError) -> T {
        do {
            return try await body()
        } catch {
            throw ControlError(.storeFailed, "etcd: \(what): \(error.message)", underlying: error)
        }
    }
}
