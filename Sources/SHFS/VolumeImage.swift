import SystemPackage

/// A problem found in a volume's hash table.
public struct VolumeProblem: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: Sendable, Hashable {
        /// Makes the volume unusable: `Volume` refuses it.
        case error
        /// Worth repairing, harmless for serving.
        case warning
    }

    public var severity: Severity
    /// The slot concerned, if any.
    public var slot: Int?
    public var message: String

    public var description: String { message }
}

/// The headers and raw hash table of a volume, read from its file, and their decoding.
package struct VolumeImage {
    package var path: String
    package var header: VolumeHeader
    package var fileSize: Int64
    /// The primary hash table, `hashTableChunks * chunkSize` bytes.
    package var table: [UInt8]

    /// Reads and validates the headers, then reads the whole hash table in one read.
    package static func load(fd: FileDescriptor, path: String) throws(SHFSError) -> VolumeImage {
        let fileSize: Int64
        do { fileSize = try fd.volumeSize() } catch { throw .io("\(path): cannot stat", error) }
        var head = [UInt8](repeating: 0, count: Layout.detectionSize)
        let got: Int
        do { got = try fd.pread(into: &head, at: 0) } catch {
            throw .io("\(path): cannot read", error)
        }
        var header = try VolumeHeader.decodeCommon(Array(head[0..<got]), path: path)
        let cs = Int64(header.chunkSize)
        var config = [UInt8](repeating: 0, count: Layout.Config.size)
        let cgot: Int
        do { cgot = try fd.pread(into: &config, at: cs) } catch {
            throw .io("\(path): cannot read", error)
        }
        guard cgot == Layout.Config.size else {
            throw SHFSError(.corruptVolume, "\(path): truncated volume: \(fileSize) bytes, the configuration header at byte \(cs) is missing")
        }
        try header.decodeConfig(config, path: path)
        let needed = header.sizeInChunks * cs
        guard fileSize >= needed else {
            throw SHFSError(.corruptVolume, "\(path): truncated volume: the header says \(header.sizeInChunks) chunks of \(cs) bytes (\(needed) bytes) but the file has \(fileSize) bytes")
        }
        let table = try readTable(fd: fd, header: header, backup: false, path: path)
        return VolumeImage(path: path, header: header, fileSize: fileSize, table: table)
    }

    /// Reads one copy of the hash table under a shared range lock.
    package static func readTable(fd: FileDescriptor, header: VolumeHeader, backup: Bool, path: String) throws(SHFSError) -> [UInt8] {
        let cs = Int64(header.chunkSize)
        let count = Int(header.hashTableChunks * cs)
        let offset = (backup ? header.backupHashTableChunk : header.hashTableChunk) * cs
        var table = [UInt8](unsafeUninitializedCapacity: count) { _, n in n = count }
        let got: Int
        do {
            got = try fd.withRangeLock(exclusive: false, offset: offset, length: Int64(count)) { () throws(Errno) in
                try fd.pread(into: &table, at: offset)
            }
        } catch {
            throw .io("\(path): cannot read the hash table", error)
        }
        guard got == count else {
            throw SHFSError(.corruptVolume, "\(path): truncated volume: the hash table at byte \(offset) is cut short")
        }
        return table
    }

    /// The non-empty entries of a table, in slot order, with every problem found in them.
    package struct Decoded {
        package var entries: [Entry] = []
        package var problems: [VolumeProblem] = []
        package var errorCount: Int { problems.lazy.filter { $0.severity == .error }.count }
    }

    /// Decodes every slot of `table` and checks it: digest in its bucket, no duplicate digest, flags, link
    /// fields, extent inside the data area, no two extents overlapping.
    package static func decode(table: [UInt8], header: VolumeHeader, path: String) -> Decoded {
        var out = Decoded()
        let hlen = header.digestLength
        let cs = Int64(header.chunkSize)
        let dataStart = header.dataStartChunk
        var spans: [(start: Int64, end: Int64, index: Int)] = []
        func problem(_ severity: VolumeProblem.Severity, _ slot: Int, _ name: String, _ text: String) {
            let label = name.isEmpty ? "slot \(slot)" : "slot \(slot) ('\(name)')"
            out.problems.append(VolumeProblem(severity: severity, slot: slot, message: "\(path): entry in \(label): \(text)"))
        }
        table.withUnsafeBytes { t in
            for slot in 0..<header.slotCount {
                let off = (slot / header.entriesPerChunk) * header.chunkSize + (slot % header.entriesPerChunk) * Layout.Entry.size
                let raw = UnsafeRawBufferPointer(rebasing: t[off..<(off + Layout.Entry.size)])
                if Entry.isEmpty(raw, digestLength: hlen) { continue }
                let (entry, chunk, offset, length, linkValid) = Entry.decode(raw, slot: slot, header: header)
                let bucket = Entry.bucket(ofDigest: raw, bucketCount: header.bucketCount)
                if bucket != slot / header.entriesPerBucket {
                    problem(.error, slot, entry.name, "digest \(entry.hexDigest) belongs in bucket \(bucket), not bucket \(slot / header.entriesPerBucket)")
                } else {
                    let first = bucket * header.entriesPerBucket
                    for other in first..<slot {
                        let o = (other / header.entriesPerChunk) * header.chunkSize + (other % header.entriesPerChunk) * Layout.Entry.size
                        if memcmpEqual(t, o, off, hlen) {
                            problem(.error, slot, entry.name, "duplicate of the digest in slot \(other)")
                            break
                        }
                    }
                }
                if !Entry.Flags.known.isSuperset(of: entry.flags) {
                    problem(.warning, slot, entry.name, "unknown flag bits 0x\(Hex.byte(entry.flags.rawValue & ~Entry.Flags.known.rawValue))")
                }
                if entry.flags.contains(.link) {
                    if !linkValid {
                        problem(.error, slot, entry.name, "invalid link (host type \(raw[Layout.Entry.hostType]), link type \(raw[Layout.Entry.linkType]), host '\(entry.link?.host ?? "")')")
                    }
                } else if chunk < UInt64(dataStart) || chunk >= UInt64(header.sizeInChunks) {
                    problem(.error, slot, entry.name, "extent starts at chunk \(chunk), outside the data area (chunks \(dataStart)..<\(header.sizeInChunks))")
                } else if offset >= UInt64(cs) || length > UInt64(header.dataEndByte) || UInt64(chunk) * UInt64(cs) + offset + length > UInt64(header.dataEndByte) {
                    problem(.error, slot, entry.name, "extent of \(length) bytes at chunk \(chunk) + \(offset) ends past the end of the volume (\(header.sizeInChunks) chunks of \(cs) bytes)")
                } else if length > 0 {
                    let start = Int64(chunk) * cs + Int64(offset)
                    spans.append((start, start + Int64(length), out.entries.count))
                }
                out.entries.append(entry)
            }
        }
        spans.sort { $0.start < $1.start }
        var reach: (end: Int64, index: Int)? = nil
        for s in spans {
            if let r = reach, s.start < r.end {
                let a = out.entries[r.index], b = out.entries[s.index]
                problem(.error, b.slot, b.name, "extent (bytes \(s.start)..<\(s.end)) overlaps the extent of slot \(a.slot)\(a.name.isEmpty ? "" : " ('\(a.name)')") (bytes ..<\(r.end))")
            }
            if reach == nil || s.end > reach!.end { reach = (s.end, s.index) }
        }
        var defaults = out.entries.lazy.filter(\.isDefault).map(\.slot).makeIterator()
        if let first = defaults.next(), let second = defaults.next() {
            problem(.warning, second, "", "a second default object (slot \(first) is the first)")
        }
        return out
    }
}

@inline(__always)
private func memcmpEqual(_ t: UnsafeRawBufferPointer, _ a: Int, _ b: Int, _ n: Int) -> Bool {
    for i in 0..<n where t[a + i] != t[b + i] { return false }
    return true
}
