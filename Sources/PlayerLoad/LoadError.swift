/// An error of the load generator: a profile, trace, router URL or site prefix it cannot use, or
/// an exchange a viewer could not complete; what failed and what to do about it.
public struct LoadError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case badConfiguration, badTrace, badURL, httpFailed, timeout
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A profile, site prefix or CA file that cannot be used.
        public static let badConfiguration = Code(.badConfiguration)
        /// A viewer trace file that cannot be read.
        public static let badTrace = Code(.badTrace)
        /// A URL that cannot be parsed (the router's, a redirect's, a playlist entry's).
        public static let badURL = Code(.badURL)
        /// An HTTP exchange failed (connect, reset, malformed response, unexpected status).
        public static let httpFailed = Code(.httpFailed)
        /// An exchange took longer than its limit.
        public static let timeout = Code(.timeout)

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
