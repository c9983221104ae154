import ArgumentParser
import SHFS

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show a volume's headers and usage.")

    @Argument(help: "The volume file or block device.")
    var volume: String

    func run() throws {
        let v = try Volume(path: volume)
        let h = v.header
        let cs = Int64(h.chunkSize)
        let objects = v.entries.filter { $0.link == nil }
        let used = objects.reduce(Int64(0)) { $0 + ($1.extent!.length + cs - 1) / cs }
        let dataChunks = h.sizeInChunks - h.dataStartChunk
        let rows: [(String, String)] = [
            ("Volume", volume),
            ("Name", h.name),
            ("UUID", h.uuidString),
            ("Version", "SHFS 2.01, little endian, \(h.memberCount) member"),
            ("Created", Output.date(h.creationTime) + " UTC"),
            ("Chunk size", "\(h.chunkSize) bytes (stripe size \(h.stripeSize), \(h.stripeMode == .independent ? "independent" : "combined"))"),
            ("Size", "\(h.sizeInChunks) chunks (\(Output.size(h.dataEndByte)))"),
            ("Hash table", "chunk \(h.hashTableChunk), \(h.hashTableChunks) chunks, \(h.bucketCount) buckets x \(h.entriesPerBucket) entries"),
            ("Backup table", h.hasBackupTable ? "chunk \(h.backupHashTableChunk)" : "none"),
            ("Digest", "\(h.hashFunction), \(h.digestLength) bytes"),
            ("Allocator", h.allocator.description),
            ("Data area", "chunks \(h.dataStartChunk)..<\(h.sizeInChunks)"),
            ("Entries", "\(v.entries.count) of \(h.slotCount) (\(objects.count) objects, \(v.entries.count - objects.count) links)"),
            ("Used", "\(Output.size(used * cs)) of \(Output.size(dataChunks * cs)) (\(dataChunks > 0 ? used * 100 / dataChunks : 0)%)"),
            ("Default", v.defaultEntry.map { $0.name.isEmpty ? $0.hexDigest : $0.name } ?? "none"),
        ]
        for (k, value) in rows { print(Output.pad(k + ":", 14) + value) }
    }
}
