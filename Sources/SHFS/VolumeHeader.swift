/// The decoded common header (chunk 0) and configuration header (chunk 1) of a volume.
public struct VolumeHeader: Sendable, Hashable {
    /// How a multi-member volume spreads chunks over its members.
    public enum StripeMode: UInt8, Sendable {
        /// Whole chunks round-robin over the members.
        case independent = 0
        /// Each chunk striped across all members.
        case combined = 1
    }

    /// The hash function named in the configuration header.
    public enum HashFunction: UInt8, Sendable, CustomStringConvertible {
        case manual = 1, sha = 2, crc = 3, md5 = 4, haval = 5

        public var description: String {
            switch self {
            case .manual: "manual"
            case .sha: "SHA"
            case .crc: "CRC"
            case .md5: "MD5"
            case .haval: "HAVAL"
            }
        }
    }

    /// The allocation policy recorded in the configuration header.
    public enum Allocator: UInt8, Sendable, CustomStringConvertible {
        case firstFit = 0
        case bestFit = 1

        public var description: String { self == .firstFit ? "first-fit" : "best-fit" }
    }

    /// Volume name (at most 16 bytes).
    public var name: String
    /// Volume UUID (16 bytes).
    public var uuid: [UInt8]
    /// Volume size in chunks, as recorded (`(device bytes - chunk size) / chunk size` for one member).
    public var sizeInChunks: Int64
    /// Creation time, Unix seconds.
    public var creationTime: Int64
    public var stripeMode: StripeMode
    /// Stripe size in bytes (a power of two, 4096...32768).
    public var stripeSize: Int
    /// This member's UUID.
    public var memberUUID: [UInt8]
    /// Number of members (only 1 is supported).
    public var memberCount: Int
    /// First chunk of the hash table.
    public var hashTableChunk: Int64
    /// First chunk of the backup hash table, 0 when there is none.
    public var backupHashTableChunk: Int64
    public var hashFunction: HashFunction
    /// Digest length in bytes (1...64).
    public var digestLength: Int
    public var bucketCount: Int
    public var entriesPerBucket: Int
    public var allocator: Allocator

    /// Chunk size in bytes.
    public var chunkSize: Int {
        stripeMode == .combined ? stripeSize * memberCount : stripeSize
    }

    /// Number of hash-table slots (`bucketCount * entriesPerBucket`).
    public var slotCount: Int { bucketCount * entriesPerBucket }

    /// Hash-table entries per chunk.
    public var entriesPerChunk: Int { chunkSize / Layout.Entry.size }

    /// Chunks taken by one copy of the hash table.
    public var hashTableChunks: Int64 {
        Int64((slotCount + entriesPerChunk - 1) / entriesPerChunk)
    }

    /// Whether a backup hash table is kept.
    public var hasBackupTable: Bool { backupHashTableChunk != 0 }

    /// First chunk after all metadata (headers and hash tables): where data extents start.
    public var dataStartChunk: Int64 {
        var end = hashTableChunk + hashTableChunks
        if hasBackupTable { end = max(end, backupHashTableChunk + hashTableChunks) }
        return max(end, 2)
    }

    /// Bytes addressable by data extents (`sizeInChunks * chunkSize`).
    public var dataEndByte: Int64 { sizeInChunks * Int64(chunkSize) }

    /// The volume UUID in the usual 8-4-4-4-12 text form.
    public var uuidString: String { Self.formatUUID(uuid) }

    /// Byte offset of hash-table slot `slot` (of the backup table when `backup` is true).
    public func entryByteOffset(slot: Int, backup: Bool = false) -> Int64 {
        let first = backup ? backupHashTableChunk : hashTableChunk
        return (first + Int64(slot / entriesPerChunk)) * Int64(chunkSize)
            + Int64((slot % entriesPerChunk) * Layout.Entry.size)
    }

    static func formatUUID(_ bytes: [UInt8]) -> String {
        var s = ""
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { s += "-" }
            s += Hex.byte(b)
        }
        return s
    }
}
