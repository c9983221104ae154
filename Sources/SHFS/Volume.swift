import SystemPackage

/// An opened volume: an immutable snapshot of its headers and hash table, loaded once and fully
/// validated at open. Sendable and cheap to share between threads.
///
/// Writers in other processes (``VolumeWriter``) update the file in place; open a new `Volume` to
/// see their changes.
public final class Volume: Sendable {
    /// The path the volume was opened from.
    public let path: String
    public let header: VolumeHeader
    /// Read-only descriptor, open for the volume's lifetime (closed in `deinit`); `pread` or
    /// `sendfile` object extents from it.
    public let fileDescriptor: FileDescriptor
    /// Every non-empty entry, in slot order.
    public let entries: [Entry]
    private let digestIndex: DigestIndex
    private let nameIndex: NameIndex
    private let defaultIndex: Int?

    /// Opens a volume read-only, validates it and loads its hash table.
    ///
    /// - Throws: ``SHFSError`` saying what is wrong and where when the file is not a usable volume
    ///   (``SHFSError/Code/notAVolume``, ``SHFSError/Code/unsupportedVolume``,
    ///   ``SHFSError/Code/corruptVolume``, ``SHFSError/Code/io``).
    public convenience init(path: String) throws(SHFSError) {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) } catch {
            throw .io("cannot open volume \(path)", error as? Errno ?? .ioError)
        }
        try self.init(fileDescriptor: fd, path: path)
    }

    /// Takes ownership of `fileDescriptor` (closed on failure and in `deinit`), validates the
    /// volume and loads its hash table.
    package init(fileDescriptor fd: FileDescriptor, path: String) throws(SHFSError) {
        let header: VolumeHeader
        let decoded: VolumeImage.Decoded
        do {
            (header, _) = try VolumeImage.loadHeaders(fd: fd, path: path)
            decoded = try VolumeImage.mapAndDecode(fd: fd, header: header, path: path)
        } catch {
            try? fd.close()
            throw error
        }
        if let bad = decoded.problems.first(where: { $0.severity == .error }) {
            try? fd.close()
            let more = decoded.errorCount > 1 ? " (and \(decoded.errorCount - 1) more problems)" : ""
            throw SHFSError(.corruptVolume, "\(bad.message)\(more); run `shfs fsck \(path)`")
        }
        self.path = path
        self.header = header
        self.fileDescriptor = fd
        self.entries = decoded.entries
        self.digestIndex = decoded.index
        self.nameIndex = decoded.names
        self.defaultIndex = decoded.entries.firstIndex { $0.flags.contains(.isDefault) }
    }

    deinit {
        try? fileDescriptor.close()
    }

    /// The entry with this digest (exactly `digestLength` bytes), in O(1).
    @inlinable
    public func entry(digest: some Collection<UInt8>) -> Entry? {
        if let found = digest.withContiguousStorageIfAvailable({ entry(digestBytes: UnsafeRawBufferPointer($0)) }) {
            return found
        }
        return Array(digest).withUnsafeBytes { entry(digestBytes: $0) }
    }

    /// The entry with this digest (exactly `digestLength` bytes), in O(1).
    public func entry(digestBytes: UnsafeRawBufferPointer) -> Entry? {
        digestIndex.find(digestBytes).map { entries[$0] }
    }

    /// The entry whose digest is this text: exactly `2 * digestLength` hex digits, case-insensitive;
    /// nil for anything else.
    public func entry(hexDigest: some StringProtocol) -> Entry? {
        let n = header.digestLength
        return withUnsafeTemporaryAllocation(byteCount: n, alignment: 8) { buf in
            guard Hex.decode(hexDigest, count: n, into: buf) else { return nil }
            return entry(digestBytes: UnsafeRawBufferPointer(buf))
        }
    }

    /// The entry with this name, in O(1) through an index built at open. With duplicate names
    /// the lowest slot wins.
    public func entry(name: some StringProtocol) -> Entry? {
        if let found = name.utf8.withContiguousStorageIfAvailable({ nameIndex.find(UnsafeRawBufferPointer($0)) }) {
            return found.map { entries[$0] }
        }
        var copy = String(name)
        return copy.withUTF8 { nameIndex.find(UnsafeRawBufferPointer($0)) }.map { entries[$0] }
    }

    /// The entry flagged default (served for `/`), if any.
    public var defaultEntry: Entry? { defaultIndex.map { entries[$0] } }

    /// Finds an object by hex digest first, then by name (how the `shfs` tool addresses objects).
    public func entry(digestOrName key: some StringProtocol) -> Entry? {
        entry(hexDigest: key) ?? entry(name: key)
    }
}
