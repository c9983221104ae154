#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CLinuxCalls
import SystemPackage

/// What a long-lived writer (a cache filling the volume while it is served) needs beyond the
/// `shfs` tool's operations: releasing the lock between writes, replacing an object in its slot
/// with one commit, and keeping freed chunks reserved while readers may still use them.
extension VolumeWriter {
    /// Gives up the writer lock; other writers may change the volume until ``lock()``. The
    /// in-memory table is then stale if they did: open a new writer in that case.
    public func unlock() {
        _ = flock(fd.rawValue, LOCK_UN)
    }

    /// Takes the writer lock again, waiting for another writer to finish.
    public func lock() throws(SHFSError) {
        do { try fd.lockExclusive(wait: true) } catch {
            throw SHFSError(.io, "cannot lock \(path) for writing", errno: error)
        }
    }

    /// Writes `bytes` as a new object, or as the replacement of `old` in the same slot, and
    /// commits it: the data is synced first, then one entry write switches to it.
    ///
    /// - Parameter old: the object replaced (same digest); its chunks stay reserved and are
    ///   returned, to be given back with ``releaseChunks(_:)`` once no reader can use them.
    /// - Returns: the new entry and the chunks the replaced object kept.
    /// - Throws: ``SHFSError`` (volume full, bucket full, I/O); the volume is unchanged then.
    @discardableResult
    public func put(bytes: [UInt8], options: ObjectOptions, replacing old: Entry? = nil) throws(SHFSError) -> (entry: Entry, retained: Range<Int64>) {
        let previous = try old.map { e throws(SHFSError) in try current(e) }
        var source = MemorySource(bytes: bytes)
        let entry = try stage(length: Int64(bytes.count), options: options, replacing: previous) { buffer throws(Errno) in
            source.read(into: buffer)
        }
        do { try commit() } catch {
            forget(entry)
            staged.removeAll()
            if let previous { insert(previous) }
            throw error
        }
        return (entry, previous.map { releasableChunks(of: $0) } ?? 0..<0)
    }

    /// Removes an object or link, keeping its chunks reserved (returned) until ``releaseChunks(_:)``.
    /// - Parameter syncing: sync the cleared entry now; without it, the removal is durable at the
    ///   next ``sync()`` or ``commit()`` (do not reuse the chunks before).
    public func remove(_ entry: Entry, retainingChunks: Bool, syncing: Bool = true) throws(SHFSError) -> Range<Int64> {
        let current = try current(entry)
        forget(current, releasingChunks: !retainingChunks)
        do throws(SHFSError) {
            try writeSlot(current.slot)
            if syncing { try sync() }
        } catch {
            insert(current)
            throw error
        }
        return retainingChunks ? releasableChunks(of: current) : 0..<0
    }

    // MARK: Group commit

    /// Takes free chunks for an object of `length` bytes, to be filled with ``write(_:at:into:)``
    /// and staged with ``stage(reserved:length:options:replacing:)`` (or given back with
    /// ``releaseChunks(_:)``); nil when no free extent holds it. Nothing on disk refers to them
    /// until the object's entry is committed.
    public func reserve(length: Int64) -> Range<Int64>? {
        let chunkSize = Int64(header.chunkSize)
        guard length > 0 else { return header.dataStartChunk..<header.dataStartChunk }
        return free.allocate((length + chunkSize - 1) / chunkSize, policy: header.allocator)
    }

    /// Writes `bytes` at `offset` of an object being written into the reserved chunks `run`
    /// (not synced: ``commit()`` syncs all data before it writes any entry).
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64, into run: Range<Int64>) throws(SHFSError) {
        let chunkSize = Int64(header.chunkSize)
        guard offset >= 0, offset + Int64(bytes.count) <= Int64(run.count) * chunkSize else {
            throw SHFSError(.invalidArgument, "\(path): \(bytes.count) bytes at \(offset) do not fit the \(run.count) chunks reserved")
        }
        do { try fd.pwriteFully(at: run.lowerBound * chunkSize + offset, bytes) } catch {
            throw .io("\(path): cannot write object data", error)
        }
    }

    /// Stages an object whose `length` bytes were written into the reserved chunks `run`, as a
    /// new object or the replacement of `old` in its slot; its entry is written by the next
    /// ``commit()``, so several objects share one pair of syncs. On failure `run` is released.
    ///
    /// - Parameter options: must carry the object's digest.
    /// - Returns: the staged entry and, for a replacement, the chunks the replaced object kept
    ///   (give them back with ``releaseChunks(_:)`` once no reader can use them).
    public func stage(reserved run: Range<Int64>, length: Int64, options: ObjectOptions, replacing old: Entry?) throws(SHFSError) -> (entry: Entry, retained: Range<Int64>) {
        let previous: Entry?
        do throws(SHFSError) {
            previous = try old.map { e throws(SHFSError) in try current(e) }
            guard let digest = options.digest else {
                throw SHFSError(.invalidArgument, "an object written into reserved chunks needs its digest")
            }
            guard length <= Int64(run.count) * Int64(header.chunkSize) else {
                throw SHFSError(.invalidArgument, "\(path): \(length) bytes do not fit the \(run.count) chunks reserved")
            }
            try checkAttributes(name: options.name, mimeType: options.mimeType, encoding: options.encoding)
            if let previous {
                guard digest == previous.digest, options.name.isEmpty || options.name == previous.name else {
                    throw SHFSError(.invalidArgument, "a replacement keeps the digest and name of the object it replaces")
                }
            } else {
                try checkNew(digest: digest, name: options.name)
            }
        } catch {
            free.release(run)
            throw error
        }
        let entry = try stageWritten(run: run, length: length, options: options, replacing: previous, digest: options.digest!)
        return (entry, previous.map { releasableChunks(of: $0) } ?? 0..<0)
    }

    /// Makes chunks kept by ``put(bytes:options:replacing:)`` or ``remove(_:retainingChunks:)`` free.
    public func releaseChunks(_ chunks: Range<Int64>) {
        free.release(chunks)
    }

    /// Drops the file's pages of `chunks` (a hole is punched; they read as zeros until written
    /// again). Do it only once nothing on disk refers to the chunks (their entry's removal is
    /// synced). It does not protect bytes the kernel still holds for a socket after a `sendfile`:
    /// a page-cache folio the hole covers only in part (folios larger than a page, as Linux 6.18 on
    /// ext4) is zeroed in place, and the socket sends the zeros.
    /// - Returns: false when the file system cannot punch holes (or the call failed).
    public func discardPages(of chunks: Range<Int64>) -> Bool {
        guard !chunks.isEmpty else { return true }
        let chunkSize = Int64(header.chunkSize)
        let offset = chunks.lowerBound * chunkSize
        let length = Int64(chunks.count) * chunkSize
        while true {
            if clinux_punch_hole(fd.rawValue, offset, length) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// Whether ``discardPages(of:)`` works on this volume's file system, tried on a free chunk;
    /// nil when no chunk is free to try it on.
    public func canDiscardPages() -> Bool? {
        guard let chunk = free.allocate(1, policy: header.allocator) else { return nil }
        defer { free.release(chunk) }
        return discardPages(of: chunk)
    }

    /// Marks free chunks as in use without an entry (chunks a previous writer kept reserved);
    /// false when part of them is not free.
    @discardableResult
    public func reserveChunks(_ chunks: Range<Int64>) -> Bool {
        chunks.isEmpty || free.take(chunks)
    }

    /// Overwrites bytes inside an object (e.g. a metadata block in front of its content) and syncs.
    public func overwrite(_ entry: Entry, at offset: Int64, with bytes: [UInt8]) throws(SHFSError) {
        let current = try current(entry)
        guard let extent = current.extent, offset >= 0, offset + Int64(bytes.count) <= extent.length else {
            throw SHFSError(.invalidArgument, "\(path): cannot write \(bytes.count) bytes at \(offset) inside object \(entry.hexDigest)")
        }
        do { try fd.pwrite(bytes, at: extent.byteOffset + offset) } catch {
            throw .io("\(path): cannot rewrite object \(entry.hexDigest)", error)
        }
        try sync()
    }

    /// The entries of the hash bucket `digest` belongs to.
    public func entries(inBucketOf digest: [UInt8]) -> [Entry] {
        let first = Entry.bucket(ofDigest: digest, bucketCount: header.bucketCount) * header.entriesPerBucket
        return slots[first..<(first + header.entriesPerBucket)].compactMap { $0 }
    }

    /// Whether the hash bucket of `digest` has a free slot.
    public func hasFreeSlot(for digest: [UInt8]) -> Bool {
        let first = Entry.bucket(ofDigest: digest, bucketCount: header.bucketCount) * header.entriesPerBucket
        return slots[first..<(first + header.entriesPerBucket)].contains { $0 == nil }
    }

    /// Whether a contiguous free extent holds `bytes`.
    public func hasFreeExtent(for bytes: Int64) -> Bool {
        let chunkSize = Int64(header.chunkSize)
        return bytes == 0 || free.largestRun >= (bytes + chunkSize - 1) / chunkSize
    }

    /// The entry with exactly this digest.
    public func entry(digest: [UInt8]) -> Entry? {
        digestSlots[digest].flatMap { slots[$0] }
    }

    /// The hash bucket of a digest in a table of `bucketCount` buckets.
    public static func bucket(ofDigest digest: UnsafeRawBufferPointer, bucketCount: Int) -> Int {
        Entry.bucket(ofDigest: digest, bucketCount: bucketCount)
    }
}
