import EtcdClient
import Logging
import Synchronization

/// A cluster member's etcd lease: granted, kept alive, and granted again (with the member's keys
/// written again through `onGrant`) when etcd says it lapsed. Retries while etcd is unreachable.
final class MemberLease: Sendable {
    private let client: EtcdClient
    let ttl: Int64
    private let logger: Logger
    private let state = Mutex<(lease: EtcdLease?, renewedAt: ContinuousClock.Instant?)>((nil, nil))

    init(client: EtcdClient, ttl: Int64, logger: Logger) {
        self.client = client
        self.ttl = ttl
        self.logger = logger
    }

    /// The current lease, if granted and renewed within its TTL.
    var current: EtcdLease? {
        state.withLock { s in
            guard let lease = s.lease, let renewed = s.renewedAt, ContinuousClock.now - renewed < .seconds(lease.ttl) else { return nil }
            return lease
        }
    }

    /// The lease as granted, fresh or not.
    var granted: EtcdLease? { state.withLock { $0.lease } }

    /// Keeps a lease until cancelled; `onGrant` runs after every grant (register keys with it).
    func run(onGrant: @escaping @Sendable (EtcdLease) async throws(EtcdError) -> Void) async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do throws(EtcdError) {
                let lease = try await client.grantLease(ttl: ttl)
                state.withLock { $0 = (lease, .now) }
                try await onGrant(lease)
                delay = .milliseconds(100)
                try await client.keepAlive(lease) { _ in self.state.withLock { $0.renewedAt = .now } }
            } catch {
                if Task.isCancelled { break }
                logger.warning("member lease: \(error.code)", metadata: ["error": "\(error.message)"])
                if error.code == .leaseExpired { state.withLock { $0 = (nil, nil) } }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }

    /// Revokes the lease (its keys vanish at once): a clean leave.
    func revoke() async {
        guard let lease = state.withLock({ s -> EtcdLease? in
            defer { s = (nil, nil) }
            return s.lease
        }) else { return }
        try? await client.revokeLease(lease.id)
    }
}
