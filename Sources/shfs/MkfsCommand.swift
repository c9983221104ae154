import ArgumentParser
import SHFS

struct MkfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkfs",
        abstract: "Create an empty volume in a file (created if needed) or on a block device."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Option(name: .shortAndLong, help: "Volume size, like 64M or 2G (default: the size of the existing file or device).")
    var size: ByteCount?

    @Option(name: .shortAndLong, help: "Volume name, at most 16 bytes.")
    var name: String = ""

    @Option(name: .customLong("chunk-size"), help: "Chunk size: a power of two from 4K to 32K.")
    var chunkSize: ByteCount = ByteCount(argument: "16K")!

    @Option(name: .shortAndLong, help: "Number of hash buckets.")
    var buckets: Int = 2048

    @Option(name: [.short, .customLong("entries-per-bucket")], help: "Entries per bucket (a full bucket rejects an add).")
    var entriesPerBucket: Int = 8

    @Option(name: .customLong("digest-length"), help: "Digest length in bytes, 4...32 (SHA-256, truncated).")
    var digestLength: Int = 32

    @Flag(name: .customLong("best-fit"), help: "Allocate with best-fit instead of first-fit.")
    var bestFit = false

    @Flag(name: .customLong("backup-table"), help: "Keep a backup copy of the hash table (fsck --repair restores from it).")
    var backupTable = false

    @Flag(name: .shortAndLong, help: "Overwrite an existing volume or non-empty file.")
    var force = false

    func run() throws {
        let h = try Volume.format(path: volume, options: FormatOptions(
            size: size?.bytes, chunkSize: Int(chunkSize.bytes), bucketCount: buckets, entriesPerBucket: entriesPerBucket,
            digestLength: digestLength, name: name, allocator: bestFit ? .bestFit : .firstFit,
            backupTable: backupTable, force: force
        ))
        let data = (h.sizeInChunks - h.dataStartChunk) * Int64(h.chunkSize)
        print("\(volume): SHFS 2.01 volume '\(h.name)' \(h.uuidString), \(h.sizeInChunks) chunks of \(h.chunkSize) bytes, \(h.bucketCount) x \(h.entriesPerBucket) entries\(h.hasBackupTable ? " (with backup table)" : ""), \(Output.size(data)) for data")
    }
}
