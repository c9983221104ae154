#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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
    public func remove(_ entry: Entry, retainingChunks: Bool) throws(SHFSError) -> Range<Int64> {
        let current = try current(entry)
        forget(current, releasingChunks: !retainingChunks)
        do throws(SHFSError) {
            try writeSlot(current.slot)
            try sync()
        } catch {
            insert(current)
            throw error
        }
        return retainingChunks ? releasableChunks(of: current) : 0..<0
    }

    /// Makes chunks kept by ``put(bytes:options:replacing:)`` or ``remove(_:retainingChunks:)`` free.
    public func releaseChunks(_ chunks: Range<Int64>) {
        free.release(chunks)
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
