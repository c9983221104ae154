import Crypto
import SystemPackage

/// `fsck` for SHFS volumes: checks headers, bucket placement, duplicate digests, flags, link
/// fields, extents and overlaps, optionally every object's digest, and repairs from the backup table.
public struct VolumeCheck: Sendable {
    /// What to do besides the structural checks.
    public struct Options: Sendable {
        /// Hash every object and compare with its digest (SHA volumes only).
        public var verifyDigests: Bool
        /// Rewrite bad slots from the backup table (or clear them when the backup cannot help) and
        /// bring the backup table up to date. Takes the writer lock.
        public var repair: Bool

        public init(verifyDigests: Bool = false, repair: Bool = false) {
            self.verifyDigests = verifyDigests
            self.repair = repair
        }
    }

    /// The volume's headers.
    public var header: VolumeHeader
    /// Entries found (after repair, when repairing).
    public var entryCount: Int
    /// Every problem found, errors and warnings, before any repair.
    public var problems: [VolumeProblem]
    /// What the repair changed, one line per slot.
    public var repairs: [String]
    /// Objects whose content was hashed.
    public var digestsVerified: Int
    /// Errors left after repair (0 = the volume is usable).
    public var remainingErrors: Int

    /// Checks the volume at `path`.
    ///
    /// - Throws: ``SHFSError`` when the headers are unusable (not a volume, unsupported, truncated);
    ///   entry-level problems are reported in the result instead.
    public static func run(path: String, options: Options = Options()) throws(SHFSError) -> VolumeCheck {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), options.repair ? .readWrite : .readOnly, options: [.closeOnExec]) } catch {
            throw .io("cannot open volume \(path)", error as? Errno ?? .ioError)
        }
        defer { try? fd.close() }
        if options.repair {
            do { try fd.lockExclusive(wait: false) } catch {
                throw SHFSError(.io, "\(path) is locked by another shfs process writing to it; repair it when that has finished", errno: error)
            }
        }
        var image = try VolumeImage.load(fd: fd, path: path)
        let h = image.header
        var decoded = VolumeImage.decode(table: image.table, header: h, path: path)
        var result = VolumeCheck(header: h, entryCount: decoded.entries.count, problems: decoded.problems, repairs: [], digestsVerified: 0, remainingErrors: decoded.errorCount)

        var backup: [UInt8]? = nil
        if h.hasBackupTable {
            let b = try VolumeImage.readTable(fd: fd, header: h, backup: true, path: path)
            let backupDecoded = VolumeImage.decode(table: b, header: h, path: path + " (backup table)")
            let badInBackup = Set(backupDecoded.problems.filter { $0.severity == .error }.compactMap(\.slot))
            let badInPrimary = Set(decoded.problems.filter { $0.severity == .error }.compactMap(\.slot))
            var differing: [Int] = []
            for slot in 0..<h.slotCount where slotBytes(image.table, slot, h) != slotBytes(b, slot, h) {
                differing.append(slot)
                let which = badInPrimary.contains(slot) && !badInBackup.contains(slot) ? "the backup copy is good" : "the backup copy is out of date"
                result.problems.append(VolumeProblem(severity: .warning, slot: slot, message: "\(path): slot \(slot) differs from the backup table (\(which))"))
            }
            if options.repair {
                for slot in differing where badInPrimary.contains(slot) && !badInBackup.contains(slot) {
                    setSlot(&image.table, slot, h, slotBytes(b, slot, h))
                    result.repairs.append("slot \(slot): restored from the backup table")
                }
            }
            backup = b
        }

        if options.repair {
            // Clear what neither copy can fix, one pass per round of problems (an overlap clears one side).
            for _ in 0..<8 {
                decoded = VolumeImage.decode(table: image.table, header: h, path: path)
                let bad = Set(decoded.problems.filter { $0.severity == .error }.compactMap(\.slot))
                if bad.isEmpty { break }
                for slot in bad.sorted() {
                    setSlot(&image.table, slot, h, [UInt8](repeating: 0, count: Layout.Entry.size))
                    result.repairs.append("slot \(slot): cleared (no good copy)")
                }
            }
            decoded = VolumeImage.decode(table: image.table, header: h, path: path)
            try writeBack(fd: fd, table: image.table, backup: backup, header: h, path: path, repairs: &result.repairs)
            result.entryCount = decoded.entries.count
            result.remainingErrors = decoded.errorCount
        }

        if options.verifyDigests, h.hashFunction == .sha {
            try verify(fd: fd, entries: decoded.entries, header: h, path: path, into: &result)
        }
        return result
    }

    private static func verify(fd: FileDescriptor, entries: [Entry], header h: VolumeHeader, path: String, into result: inout VolumeCheck) throws(SHFSError) {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { block.deallocate() }
        for e in entries {
            guard let x = e.extent else { continue }
            var full = SHA256()
            var withoutLastChunk = SHA256()
            let cut = x.length % Int64(h.chunkSize) == 0 ? x.length - Int64(h.chunkSize) : -1
            var done: Int64 = 0
            while done < x.length {
                let n = Int(min(Int64(block.count), x.length - done))
                let got: Int
                do { got = try fd.preadFully(at: x.byteOffset + done, into: UnsafeMutableRawBufferPointer(rebasing: block[0..<n])) } catch {
                    throw .io("\(path): cannot read slot \(e.slot)", error)
                }
                guard got == n else { break }
                let b = UnsafeRawBufferPointer(rebasing: block[0..<n])
                full.update(bufferPointer: b)
                if done < cut { withoutLastChunk.update(bufferPointer: UnsafeRawBufferPointer(rebasing: b[0..<Int(min(Int64(n), cut - done))])) }
                done += Int64(n)
            }
            result.digestsVerified += 1
            let label = e.name.isEmpty ? "slot \(e.slot)" : "slot \(e.slot) ('\(e.name)')"
            if Array(full.finalize()).prefix(h.digestLength).elementsEqual(e.digest) { continue }
            if cut >= 0, Array(withoutLastChunk.finalize()).prefix(h.digestLength).elementsEqual(e.digest) {
                result.problems.append(VolumeProblem(severity: .warning, slot: e.slot, message: "\(path): entry in \(label): digest leaves out the last chunk, as the original tools computed it for sizes that are a multiple of the chunk size"))
            } else {
                result.problems.append(VolumeProblem(severity: .error, slot: e.slot, message: "\(path): entry in \(label): content does not match its digest \(e.hexDigest)"))
                result.remainingErrors += 1
            }
        }
    }

    private static func writeBack(fd: FileDescriptor, table: [UInt8], backup: [UInt8]?, header h: VolumeHeader, path: String, repairs: inout [String]) throws(SHFSError) {
        let current = try VolumeImage.readTable(fd: fd, header: h, backup: false, path: path)
        do throws(Errno) {
            for slot in 0..<h.slotCount where slotBytes(current, slot, h) != slotBytes(table, slot, h) {
                try writeSlot(fd, Array(slotBytes(table, slot, h)), at: h.entryByteOffset(slot: slot))
            }
            if let backup {
                var resynced = 0
                for slot in 0..<h.slotCount where slotBytes(backup, slot, h) != slotBytes(table, slot, h) {
                    try writeSlot(fd, Array(slotBytes(table, slot, h)), at: h.entryByteOffset(slot: slot, backup: true))
                    resynced += 1
                }
                if resynced > 0 { repairs.append("backup table: \(resynced) slots brought up to date") }
            }
            try fd.syncData()
        } catch {
            throw .io("\(path): cannot write the repaired hash table", error)
        }
    }

    /// One aligned entry write, under the exclusive range lock readers respect.
    private static func writeSlot(_ fd: FileDescriptor, _ bytes: [UInt8], at offset: Int64) throws(Errno) {
        try fd.withRangeLock(exclusive: true, offset: offset, length: Int64(bytes.count)) { () throws(Errno) in
            try fd.pwrite(bytes, at: offset)
        }
    }

    private static func slotBytes(_ table: [UInt8], _ slot: Int, _ h: VolumeHeader) -> ArraySlice<UInt8> {
        let off = (slot / h.entriesPerChunk) * h.chunkSize + (slot % h.entriesPerChunk) * Layout.Entry.size
        return table[off..<(off + Layout.Entry.size)]
    }

    private static func setSlot(_ table: inout [UInt8], _ slot: Int, _ h: VolumeHeader, _ bytes: some Collection<UInt8>) {
        let off = (slot / h.entriesPerChunk) * h.chunkSize + (slot % h.entriesPerChunk) * Layout.Entry.size
        table.replaceSubrange(off..<(off + Layout.Entry.size), with: bytes)
    }
}
