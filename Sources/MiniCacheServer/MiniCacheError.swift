/// An error of the data plane: what failed and what to do about it.
public struct MiniCacheError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case volume, bind, configuration, admin, certificate
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The volume cannot be opened, read or mounted.
        public static let volume = Code(.volume)
        /// A listener cannot be bound.
        public static let bind = Code(.bind)
        /// A setting is invalid.
        public static let configuration = Code(.configuration)
        /// The admin API refused a request or cannot be reached.
        public static let admin = Code(.admin)
        /// A TLS certificate or key cannot be loaded.
        public static let certificate = Code(.certificate)

        public var description: String { "\(self.base)" }
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { self.message }
}
