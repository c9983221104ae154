/// An error of the live control plane: what failed, and what to do about it.
public struct ControlError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case bindFailed, badConfiguration, badPrefixTable, volumeFailed, spawnFailed
            case instanceFailed, httpFailed, timeout, badURL, badTrace, storeFailed, imageFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A listener could not bind its address.
        public static let bindFailed = Code(.bindFailed)
        /// Sites, tenants or options contradict each other.
        public static let badConfiguration = Code(.badConfiguration)
        /// The client-prefix table file could not be read or parsed.
        public static let badPrefixTable = Code(.badPrefixTable)
        /// An instance's volume could not be created.
        public static let volumeFailed = Code(.volumeFailed)
        /// A child process could not be started.
        public static let spawnFailed = Code(.spawnFailed)
        /// An instance exited, crashed or never became ready.
        public static let instanceFailed = Code(.instanceFailed)
        /// An HTTP exchange failed (connect, reset, malformed response).
        public static let httpFailed = Code(.httpFailed)
        /// Something took longer than its limit.
        public static let timeout = Code(.timeout)
        /// A URL could not be parsed (only `http://host[:port][/path]` is supported).
        public static let badURL = Code(.badURL)
        /// A viewer trace file could not be read.
        public static let badTrace = Code(.badTrace)
        /// The state store (etcd) could not be read or written; the message says why.
        public static let storeFailed = Code(.storeFailed)
        /// An instance image (OCI layout, runtime bundle, initramfs) could not be built or read.
        public static let imageFailed = Code(.imageFailed)

        public var description: String { "\(value)" }
    }

    public var code: Code
    /// What failed and what to do.
    public var message: String
    /// The lower-level error, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
