/// An error of the demo origin's media: what is wrong with a clip or a configuration, and what to
/// do about it.
public struct MediaError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case clipNotFound, badClip, unsupported, doesNotFit, badConfiguration, bindFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The media directory or one of its files could not be read.
        public static let clipNotFound = Code(.clipNotFound)
        /// A clip file is not the elementary stream it should be.
        public static let badClip = Code(.badClip)
        /// The clip uses a feature the packager does not implement.
        public static let unsupported = Code(.unsupported)
        /// A segment duration or bitrate the clip cannot be cut or padded to.
        public static let doesNotFit = Code(.doesNotFit)
        /// The origin's configuration contradicts itself or its certificate cannot be loaded.
        public static let badConfiguration = Code(.badConfiguration)
        /// The origin's listener could not bind its address.
        public static let bindFailed = Code(.bindFailed)

        public var description: String { "\(value)" }
    }

    public var code: Code
    /// What failed and what to do.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
