#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

extension Volume {
    /// Creates an empty SHFS 2.01 volume in a file (created if needed) or on a block device.
    ///
    /// The hash tables are zeroed first and the header carrying the magic is written last, so an
    /// interrupted format never leaves something that looks like a volume.
    /// - Throws: ``SHFSError/Code/invalidArgument`` for bad options,
    ///   ``SHFSError/Code/alreadyExists`` when the target holds data and `force` is not set.
    @discardableResult
    public static func format(path: String, options o: FormatOptions) throws(SHFSError) -> VolumeHeader {
        guard o.chunkSize >= 4096, o.chunkSize <= 32768, o.chunkSize & (o.chunkSize - 1) == 0 else {
            throw SHFSError(.invalidArgument, "chunk size \(o.chunkSize) is invalid: use a power of two from 4096 to 32768")
        }
        guard o.bucketCount >= 1, o.entriesPerBucket >= 1, o.bucketCount * o.entriesPerBucket <= 1 << 27 else {
            throw SHFSError(.invalidArgument, "hash table of \(o.bucketCount) buckets x \(o.entriesPerBucket) entries is invalid: both must be at least 1, at most 2^27 entries in all")
        }
        guard o.digestLength >= 4, o.digestLength <= 32 else {
            throw SHFSError(.invalidArgument, "digest length \(o.digestLength) is invalid: use 4...32 bytes (SHA-256, truncated)")
        }
        guard o.name.utf8.count <= Layout.Common.nameSize else {
            throw SHFSError(.invalidArgument, "volume name '\(o.name)' is \(o.name.utf8.count) bytes; the limit is 16")
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw .io("cannot open \(path)", error as? Errno ?? .ioError)
        }
        defer { try? fd.close() }
        do { try fd.lockExclusive(wait: false) } catch {
            throw SHFSError(.io, "\(path) is locked by another shfs process; try again when it has finished", errno: error)
        }
        let existing: Int64
        do { existing = try fd.volumeSize() } catch { throw .io("cannot stat \(path)", error) }
        let isDevice = isBlockDevice(fd)
        if existing > 0, !o.force {
            // Only zeros at the start (a fresh device, a file made with `truncate`) count as empty.
            var head = [UInt8](repeating: 0, count: 64 << 10)
            let n = (try? fd.pread(into: &head, at: 0)) ?? head.count
            if head[0..<n].contains(where: { $0 != 0 }) {
                let isVolume = (try? VolumeHeader.decodeCommon(Array(head[0..<min(n, Layout.detectionSize)]), path: path)) != nil
                throw SHFSError(.alreadyExists, "\(path) already holds \(isVolume ? "an SHFS volume" : "data"); add --force to overwrite it")
            }
        }
        let size = o.size ?? existing
        guard size > 0 else {
            throw SHFSError(.invalidArgument, "\(path) is empty: give the volume size (--size 64M)")
        }
        if isDevice, size > existing {
            throw SHFSError(.invalidArgument, "size \(size) is larger than the device \(path) (\(existing) bytes)")
        }
        let cs = Int64(o.chunkSize)
        var header = VolumeHeader(
            name: o.name, uuid: randomUUID(), sizeInChunks: (size - cs) / cs, creationTime: Int64(time(nil)),
            stripeMode: .independent, stripeSize: o.chunkSize, memberUUID: [], memberCount: 1,
            hashTableChunk: 2, backupHashTableChunk: 0, hashFunction: .sha, digestLength: o.digestLength,
            bucketCount: o.bucketCount, entriesPerBucket: o.entriesPerBucket, allocator: o.allocator
        )
        header.memberUUID = header.uuid
        if o.backupTable { header.backupHashTableChunk = 2 + header.hashTableChunks }
        guard header.sizeInChunks > header.dataStartChunk else {
            let need = (header.dataStartChunk + 2) * cs
            throw SHFSError(.invalidArgument, "\(size) bytes is too small for \(header.slotCount) hash-table entries of \(o.chunkSize)-byte chunks: use --size of at least \(need) bytes, or fewer --buckets / --entries-per-bucket")
        }
        do throws(Errno) {
            if !isDevice, o.size != nil || existing != size {
                guard ftruncate(fd.rawValue, off_t(size)) == 0 else { throw Errno(rawValue: errno) }
            }
            // Zero both tables, then the configuration, then chunk 0 with the magic.
            try writeZeros(fd, from: 2 * cs, count: (header.dataStartChunk - 2) * cs)
            var chunk = [UInt8](repeating: 0, count: o.chunkSize)
            chunk.withUnsafeMutableBytes { header.encodeConfig(into: $0) }
            try fd.pwrite(chunk, at: cs)
            try fd.syncData()
            chunk = [UInt8](repeating: 0, count: o.chunkSize)
            chunk.withUnsafeMutableBytes { header.encodeCommon(into: $0) }
            try fd.pwrite(chunk, at: 0)
            try fd.syncData()
        } catch {
            throw .io("cannot write the volume \(path)", error)
        }
        return header
    }

    private static func writeZeros(_ fd: FileDescriptor, from offset: Int64, count: Int64) throws(Errno) {
        let block = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while done < count {
            let n = Int(min(Int64(block.count), count - done))
            try fd.pwrite(n == block.count ? block : Array(block[0..<n]), at: offset + done)
            done += Int64(n)
        }
    }

    private static func isBlockDevice(_ fd: FileDescriptor) -> Bool {
        var st = stat()
        return fstat(fd.rawValue, &st) == 0 && (st.st_mode & S_IFMT) == S_IFBLK
    }

    private static func randomUUID() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        var u = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        u[6] = (u[6] & 0x0F) | 0x40
        u[8] = (u[8] & 0x3F) | 0x80
        return u
    }
}
