/// An error of the etcd client: what failed, and what to do about it.
public struct EtcdError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case badEndpoint, badTLS, badCredentials, unavailable, timeout, leaseExpired, compacted, rejected, unauthenticated, shutdown
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// An endpoint could not be parsed (`etcd://HOST:PORT[,HOST:PORT...]`).
        public static let badEndpoint = Code(.badEndpoint)
        /// A TLS file (the CA, the client certificate or its key) is missing or unusable.
        public static let badTLS = Code(.badTLS)
        /// The password file of ``EtcdConfiguration/credentials`` cannot be read or is empty.
        public static let badCredentials = Code(.badCredentials)
        /// etcd refused the token sent (it restarted, the token expired, or authentication
        /// changed); the client gets a new one by itself.
        public static let unauthenticated = Code(.unauthenticated)
        /// No member answered (connection refused, reset, no quorum).
        public static let unavailable = Code(.unavailable)
        /// A request got no answer within its deadline.
        public static let timeout = Code(.timeout)
        /// The lease is gone (expired or revoked): keys attached to it were deleted.
        public static let leaseExpired = Code(.leaseExpired)
        /// A watch asked for a revision that was compacted; list again, then watch from there.
        public static let compacted = Code(.compacted)
        /// etcd refused the request (bad argument, too large, permission).
        public static let rejected = Code(.rejected)
        /// The client was shut down.
        public static let shutdown = Code(.shutdown)

        public var description: String { "\(value)" }
    }

    public var code: Code
    /// What failed and what to do.
    public var message: String
    /// For ``Code/compacted``: the oldest revision still available.
    public var compactRevision: Int64
    /// The lower-level error, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, compactRevision: Int64 = 0, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.compactRevision = compactRevision
        self.underlying = underlying
    }

    public var description: String { message }
}
