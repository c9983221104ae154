/// How ``Volume/format(path:options:)`` lays out a new volume.
public struct FormatOptions: Sendable {
    /// Volume size in bytes; nil uses the size of the existing file or block device.
    public var size: Int64?
    /// Chunk size in bytes: a power of two, 4096...32768. Default 16384, as the original tools.
    public var chunkSize: Int
    /// Hash buckets. Default 2048.
    public var bucketCount: Int
    /// Entries (slots) per bucket; a full bucket rejects an add. Default 8.
    public var entriesPerBucket: Int
    /// Digest length in bytes, 4...32 (SHA-256, truncated when shorter). Default 32.
    public var digestLength: Int
    /// Volume name, at most 16 bytes. Default empty.
    public var name: String
    /// Allocation policy for new objects. Default first-fit.
    public var allocator: VolumeHeader.Allocator
    /// Keep a backup copy of the hash table (repairable by `fsck`). Default false.
    public var backupTable: Bool
    /// Overwrite an existing volume or non-empty file. Default false.
    public var force: Bool

    /// Creates options; every parameter has the default documented on its property.
    public init(
        size: Int64? = nil,
        chunkSize: Int = 16384,
        bucketCount: Int = 2048,
        entriesPerBucket: Int = 8,
        digestLength: Int = 32,
        name: String = "",
        allocator: VolumeHeader.Allocator = .firstFit,
        backupTable: Bool = false,
        force: Bool = false
    ) {
        self.size = size
        self.chunkSize = chunkSize
        self.bucketCount = bucketCount
        self.entriesPerBucket = entriesPerBucket
        self.digestLength = digestLength
        self.name = name
        self.allocator = allocator
        self.backupTable = backupTable
        self.force = force
    }
}
