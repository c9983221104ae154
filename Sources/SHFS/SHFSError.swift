import SystemPackage

/// An error of the SHFS store: a ``Code`` plus a message that says what is wrong, where, and what to do.
public struct SHFSError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; new kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case notAVolume, unsupportedVolume, corruptVolume, io, volumeFull, bucketFull
            case duplicateDigest, duplicateName, notFound, invalidArgument, alreadyExists
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file is not an SHFS volume (no magic, too short).
        public static let notAVolume = Code(.notAVolume)
        /// A valid SHFS volume this implementation cannot use (big-endian, other version, several members).
        public static let unsupportedVolume = Code(.unsupportedVolume)
        /// The volume's header or hash table is inconsistent.
        public static let corruptVolume = Code(.corruptVolume)
        /// A system call failed.
        public static let io = Code(.io)
        /// No free extent is large enough for the object.
        public static let volumeFull = Code(.volumeFull)
        /// The object's hash bucket has no free entry.
        public static let bucketFull = Code(.bucketFull)
        /// An object with the same digest is already on the volume.
        public static let duplicateDigest = Code(.duplicateDigest)
        /// An object with the same name is already on the volume.
        public static let duplicateName = Code(.duplicateName)
        /// No object has the given digest or name.
        public static let notFound = Code(.notFound)
        /// An argument is malformed (URL, digest, name too long, ...).
        public static let invalidArgument = Code(.invalidArgument)
        /// The target already exists and overwriting was not requested.
        public static let alreadyExists = Code(.alreadyExists)

        public var description: String { "\(base)" }
    }

    /// What failed.
    public var code: Code
    /// One line: what is wrong, where, and what to do.
    public var message: String
    /// The system error underneath, if any.
    public var errno: Errno?

    /// Creates an error.
    public init(_ code: Code, _ message: String, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}

extension SHFSError {
    static func io(_ what: String, _ errno: Errno) -> SHFSError {
        SHFSError(.io, "\(what): \(errno.description)", errno: errno)
    }
}
