#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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
        let (header, fileSize) = try loadHeaders(fd: fd, path: path)
        let table = try readTable(fd: fd, header: header, backup: false, path: path)
        return VolumeImage(path: path, header: header, fileSize: fileSize, table: table)
    }

    /// Reads and validates chunk 0 and chunk 1; returns the header and the volume's size in bytes.
    package static func loadHeaders(fd: FileDescriptor, path: String) throws(SHFSError) -> (VolumeHeader, Int64) {
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
        return (header, fileSize)
    }

    /// Maps the primary hash table read-only and decodes it under a shared range lock (so no
    /// writer changes an entry meanwhile); falls back to reading it when it cannot be mapped.
    package static func mapAndDecode(fd: FileDescriptor, header: VolumeHeader, path: String) throws(SHFSError) -> Decoded {
        let cs = Int64(header.chunkSize)
        let count = Int(header.hashTableChunks * cs)
        let offset = header.hashTableChunk * cs
        // No MAP_POPULATE: the kernel's fault-around maps the table faster than populating it here.
        let mapped = mmap(nil, count, PROT_READ, MAP_SHARED, fd.rawValue, off_t(offset))
        guard let mapped, mapped != MAP_FAILED else {
            let table = try readTable(fd: fd, header: header, backup: false, path: path)
            return decode(table: table, header: header, path: path)
        }
        defer { munmap(mapped, count) }
        return fd.withRangeLock(exclusive: false, offset: offset, length: Int64(count)) {
            decode(table: UnsafeRawBufferPointer(start: mapped, count: count), header: header, path: path)
        }
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
        /// Digest lookup over ``entries``.
        package var index = DigestIndex.empty
        /// Name lookup over ``entries``.
        package var names = NameIndex.empty
        package var errorCount: Int { problems.lazy.filter { $0.severity == .error }.count }
    }

    /// Decodes every slot of `table` and checks it: digest in its bucket, no duplicate digest, flags, link
    /// fields, extent inside the data area, no two extents overlapping.
    package static func decode(table: [UInt8], header: VolumeHeader, path: String) -> Decoded {
        table.withUnsafeBytes { decode(table: $0, header: header, path: path) }
    }

    package static func decode(table t: UnsafeRawBufferPointer, header: VolumeHeader, path: String) -> Decoded {
        var out = Decoded()
        let hlen = header.digestLength
        let cs = Int64(header.chunkSize)
        let chunkSize = header.chunkSize
        let perChunk = header.entriesPerChunk
        let perBucket = header.entriesPerBucket
        let buckets = header.bucketCount
        let slotCount = header.slotCount
        let dataStart = UInt64(header.dataStartChunk)
        let sizeInChunks = UInt64(header.sizeInChunks)
        let dataEnd = UInt64(header.dataEndByte)
        var starts: [Int64] = []
        var ends: [Int64] = []
        var owners: [Int] = []
        var digests: [UInt8] = []
        var nameBytes: [UInt8] = []
        var nameStarts: [Int32] = [0]
        func problem(_ severity: VolumeProblem.Severity, _ slot: Int, _ name: String, _ text: String) {
            let label = name.isEmpty ? "slot \(slot)" : "slot \(slot) ('\(name)')"
            out.problems.append(VolumeProblem(severity: severity, slot: slot, message: "\(path): entry in \(label): \(text)"))
        }
        // One pass, no division per slot: a mostly empty table costs one digest read per slot.
        do {
            var chunkStart = 0, inChunk = 0
            for slot in 0..<slotCount {
                let off = chunkStart + inChunk * Layout.Entry.size
                inChunk += 1
                if inChunk == perChunk { (chunkStart, inChunk) = (chunkStart + chunkSize, 0) }
                let raw = UnsafeRawBufferPointer(rebasing: t[off..<(off + Layout.Entry.size)])
                if Entry.isEmpty(raw, digestLength: hlen) { continue }
                let (entry, chunk, offset, length, linkValid) = Entry.decode(raw, slot: slot, chunkSize: chunkSize, digestLength: hlen)
                let bucket = Entry.bucket(ofDigest: raw, bucketCount: buckets)
                if bucket != slot / perBucket {
                    problem(.error, slot, entry.name, "digest \(entry.hexDigest) belongs in bucket \(bucket), not bucket \(slot / perBucket)")
                }
                if !Entry.Flags.known.isSuperset(of: entry.flags) {
                    problem(.warning, slot, entry.name, "unknown flag bits 0x\(Hex.byte(entry.flags.rawValue & ~Entry.Flags.known.rawValue))")
                }
                if entry.flags.contains(.link) {
                    if !linkValid {
                        problem(.error, slot, entry.name, "invalid link (host type \(raw[Layout.Entry.hostType]), link type \(raw[Layout.Entry.linkType]), host '\(entry.link?.host ?? "")')")
                    }
                } else if length == 0 {
                    // An empty object occupies no chunk; where it points does not matter.
                } else if chunk < dataStart || chunk >= sizeInChunks {
                    problem(.error, slot, entry.name, "extent starts at chunk \(chunk), outside the data area (chunks \(dataStart)..<\(sizeInChunks))")
                } else if offset >= UInt64(cs) || length > dataEnd || chunk * UInt64(cs) + offset + length > dataEnd {
                    problem(.error, slot, entry.name, "extent of \(length) bytes at chunk \(chunk) + \(offset) ends past the end of the volume (\(sizeInChunks) chunks of \(cs) bytes)")
                } else {
                    let start = Int64(chunk) * cs + Int64(offset)
                    starts.append(start)
                    ends.append(start + Int64(length))
                    owners.append(out.entries.count)
                }
                digests.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<hlen]))
                let nameField = UnsafeRawBufferPointer(rebasing: raw[Layout.Entry.name..<(Layout.Entry.name + Layout.Entry.nameSize)])
                nameBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: nameField[0..<(nameField.firstIndex(of: 0) ?? Layout.Entry.nameSize)]))
                nameStarts.append(Int32(nameBytes.count))
                out.entries.append(entry)
            }
        }
        var duplicates: [(Int, Int)] = []
        out.index = DigestIndex(digests: digests, count: out.entries.count, digestLength: hlen, duplicates: &duplicates)
        out.names = NameIndex(bytes: nameBytes, starts: nameStarts)
        for (first, second) in duplicates {
            let a = out.entries[first], b = out.entries[second]
            problem(.error, b.slot, b.name, "duplicate of the digest in slot \(a.slot)")
        }
        for (a, b) in overlaps(starts: starts, ends: ends, chunkSize: cs, chunkCount: Int64(sizeInChunks)) {
            let x = out.entries[owners[a]], y = out.entries[owners[b]]
            problem(.error, y.slot, y.name, "extent (bytes \(starts[b])..<\(ends[b])) overlaps the extent of slot \(x.slot)\(x.name.isEmpty ? "" : " ('\(x.name)')") (bytes \(starts[a])..<\(ends[a]))")
        }
        var defaults = out.entries.lazy.filter(\.isDefault).map(\.slot).makeIterator()
        if let first = defaults.next(), let second = defaults.next() {
            problem(.warning, second, "", "a second default object (slot \(first) is the first)")
        }
        return out
    }

    /// Pairs `(earlier, later)` of overlapping ranges `starts[i]..<ends[i]` (all inside
    /// `chunkCount` chunks), each later range reported once.
    private static func overlaps(starts: [Int64], ends: [Int64], chunkSize: Int64, chunkCount: Int64) -> [(Int, Int)] {
        let n = starts.count
        guard n > 1 else { return [] }
        if chunksAreDisjoint(starts: starts, ends: ends, chunkSize: chunkSize, chunkCount: chunkCount) { return [] }
        // Sort packed (start, index) keys when they fit in 64 bits: much faster than sorting tuples.
        let indexBits = UInt64(Int.bitWidth - (n - 1).leadingZeroBitCount)
        let order: [Int]
        if let maxStart = starts.max(), UInt64(maxStart) < (1 << (64 - indexBits)) {
            var keys = (0..<n).map { UInt64(starts[$0]) << indexBits | UInt64($0) }
            keys.sort()
            let mask = (UInt64(1) << indexBits) - 1
            order = keys.map { Int($0 & mask) }
        } else {
            order = (0..<n).sorted { starts[$0] < starts[$1] }
        }
        var result: [(Int, Int)] = []
        var reach = order[0]
        for i in order.dropFirst() {
            if starts[i] < ends[reach] { result.append((reach, i)) }
            if ends[i] > ends[reach] { reach = i }
        }
        return result
    }

    /// A fast proof that no two extents share a chunk, with a bitmap of chunks: true when every
    /// extent starts on a chunk boundary and none shares a chunk with another. Gives up (false) when
    /// that does not hold or marking would cost more than sorting; the caller then sorts.
    private static func chunksAreDisjoint(starts: [Int64], ends: [Int64], chunkSize: Int64, chunkCount: Int64) -> Bool {
        let n = starts.count
        var budget = 16 * n
        var bitmap = [UInt64](repeating: 0, count: Int((chunkCount + 63) / 64))
        return bitmap.withUnsafeMutableBufferPointer { bits in
            for i in 0..<n {
                guard starts[i] % chunkSize == 0 else { return false }
                var c = starts[i] / chunkSize
                let last = (ends[i] - 1) / chunkSize
                while c <= last {
                    budget -= 1
                    let word = Int(c >> 6), bit = UInt64(1) << UInt64(c & 63)
                    if budget < 0 || bits[word] & bit != 0 { return false }
                    bits[word] |= bit
                    c += 1
                }
            }
            return true
        }
    }
}
