#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import SystemPackage

/// Changes a volume in place: the only writer, holding an exclusive `flock` on the volume for its
/// lifetime, while readers in other processes keep working on their snapshots.
///
/// Crash safety: object data goes to free chunks that no entry references, is synced, and only
/// then is the entry written, as one aligned 256-byte `pwrite`; so a crash at any moment never
/// leaves an entry pointing at unwritten data or overlapping another entry.
public final class VolumeWriter {
    /// Where the volume was opened from.
    public let path: String
    /// The volume's headers.
    public let header: VolumeHeader
    let fd: FileDescriptor
    var slots: SlotTable
    var digestSlots: [[UInt8]: Int]
    private var nameSlots: [String: Int]
    var free: FreeSpace
    /// Chunks where an extent starts mid-chunk (volumes from other tools may pack objects):
    /// such a chunk is never freed while the writer is open.
    let sharedChunks: Set<Int64>
    /// Slots added in memory whose data is written but whose entries are not yet on disk.
    var staged: [Int] = []
    private var stagedBytes: Int64 = 0
    private var ioBuffer: UnsafeMutableRawBufferPointer?
    private static let blockSize = 4 << 20

    /// Opens a volume for writing: takes the writer lock, then loads and validates the table.
    ///
    /// - Parameter waitForLock: wait for another writer to finish instead of failing.
    /// - Throws: ``SHFSError``; a corrupt volume is refused (repair it with `shfs fsck --repair`).
    public init(path: String, waitForLock: Bool = true) throws(SHFSError) {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec]) } catch {
            throw .io("cannot open volume \(path) for writing", error as? Errno ?? .ioError)
        }
        do { try fd.lockExclusive(wait: waitForLock) } catch {
            try? fd.close()
            throw SHFSError(.io, "\(path) is locked by another shfs process writing to it; try again when it has finished", errno: error)
        }
        // The table is mapped, not read into a buffer: only its used pages are touched.
        let h: VolumeHeader
        let decoded: VolumeImage.Decoded
        do {
            (h, _) = try VolumeImage.loadHeaders(fd: fd, path: path)
            decoded = try VolumeImage.mapAndDecode(fd: fd, header: h, path: path)
        } catch {
            try? fd.close()
            throw error
        }
        if let bad = decoded.problems.first(where: { $0.severity == .error }) {
            try? fd.close()
            throw SHFSError(.corruptVolume, "\(bad.message); run `shfs fsck \(path)` before changing the volume")
        }
        self.path = path
        self.header = h
        self.fd = fd
        var slots = SlotTable(count: h.slotCount)
        var digests: [[UInt8]: Int] = [:]
        var names: [String: Int] = [:]
        var used: [Range<Int64>] = []
        for e in decoded.entries {
            slots[e.slot] = e
            digests[e.digest] = e.slot
            if !e.name.isEmpty, names[e.name] == nil { names[e.name] = e.slot }
            if let x = e.extent { used.append(Self.chunks(of: x, chunkSize: h.chunkSize)) }
        }
        self.slots = slots
        self.digestSlots = digests
        self.nameSlots = names
        self.free = FreeSpace(area: h.dataStartChunk..<h.sizeInChunks, used: used)
        let cs = Int64(h.chunkSize)
        self.sharedChunks = Set(decoded.entries.compactMap { e in
            e.extent.flatMap { $0.length > 0 && $0.byteOffset % cs != 0 ? $0.byteOffset / cs : nil }
        })
    }

    deinit {
        ioBuffer?.deallocate()
        try? fd.close()
    }

    /// Every non-empty entry, in slot order (including staged ones).
    public var entries: [Entry] { slots.entries }

    /// Free space in bytes, and the largest object that fits.
    public var freeBytes: (total: Int64, largest: Int64) {
        (free.freeChunks * Int64(header.chunkSize), free.largestRun * Int64(header.chunkSize))
    }

    /// The entry whose hex digest or name is `key`.
    public func entry(digestOrName key: String) -> Entry? {
        if let d = Hex.bytes(key), d.count == header.digestLength, let s = digestSlots[d] { return slots[s] }
        return nameSlots[key].flatMap { slots[$0] }
    }

    /// Parses a digest given as hex text for this volume.
    ///
    /// - Throws: ``SHFSError/Code/invalidArgument`` unless it is exactly `2 * digestLength` hex digits.
    public func digest(fromHex hex: String) throws(SHFSError) -> [UInt8] {
        guard let d = Hex.bytes(hex), d.count == header.digestLength else {
            throw SHFSError(.invalidArgument, "the digest must be \(header.digestLength * 2) hex digits for this volume, not '\(hex)'")
        }
        return d
    }

    /// Like ``entry(digestOrName:)`` but throws a ``SHFSError/Code/notFound`` error naming the volume.
    public func requireEntry(_ key: String) throws(SHFSError) -> Entry {
        guard let e = entry(digestOrName: key) else {
            throw SHFSError(.notFound, "\(path): no object with digest or name '\(key)'; list them with `shfs ls \(path)`")
        }
        return e
    }

    // MARK: Adding

    /// Adds an object read from `source` until end of file and commits it.
    ///
    /// - Parameters:
    ///   - source: a file or pipe, read from its current position.
    ///   - length: the number of bytes `source` holds, if known (a regular file); nil streams into the largest free run.
    /// - Throws: ``SHFSError`` (volume full, bucket full, duplicate digest or name, I/O); the volume is unchanged then.
    @discardableResult
    public func add(from source: FileDescriptor, length: Int64?, options: ObjectOptions) throws(SHFSError) -> Entry {
        let e = try stage(from: source, length: length, options: options)
        try commit()
        return e
    }

    /// Adds an object from memory and commits it.
    @discardableResult
    public func add(bytes: [UInt8], options: ObjectOptions) throws(SHFSError) -> Entry {
        let e = try stage(bytes: bytes, options: options)
        try commit()
        return e
    }

    /// Writes an object from memory to free chunks; its entry is written by the next ``commit()``.
    @discardableResult
    public func stage(bytes: [UInt8], options: ObjectOptions) throws(SHFSError) -> Entry {
        var pipe = MemorySource(bytes: bytes)
        return try stage(length: Int64(bytes.count), options: options) { buf throws(Errno) in pipe.read(into: buf) }
    }

    /// Writes an object's data to free chunks and reserves its slot; its entry is written by the
    /// next ``commit()``. Staging several objects and committing once syncs the data once.
    @discardableResult
    public func stage(from source: FileDescriptor, length: Int64?, options: ObjectOptions) throws(SHFSError) -> Entry {
        try stage(length: length, options: options) { buf throws(Errno) in
            do { return try source.read(into: buf, retryOnInterrupt: true) } catch let e as Errno { throw e } catch { throw Errno.ioError }
        }
    }

    func stage(
        length: Int64?,
        options o: ObjectOptions,
        replacing old: Entry? = nil,
        read: (UnsafeMutableRawBufferPointer) throws(Errno) -> Int
    ) throws(SHFSError) -> Entry {
        try checkAttributes(name: o.name, mimeType: o.mimeType, encoding: o.encoding)
        if let old {
            guard let d = o.digest, d == old.digest, o.name.isEmpty || o.name == old.name else {
                throw SHFSError(.invalidArgument, "a replacement keeps the digest and name of the object it replaces")
            }
        } else if let d = o.digest { try checkNew(digest: d, name: o.name) } else {
            try checkNew(digest: nil, name: o.name)
            guard header.hashFunction == .sha else {
                throw SHFSError(.invalidArgument, "\(path) uses \(header.hashFunction) digests, which shfs does not compute: give the digest (--digest)")
            }
        }
        let cs = Int64(header.chunkSize)
        var run: Range<Int64>
        if length == 0 {
            run = header.dataStartChunk..<header.dataStartChunk
        } else if let length {
            let need = (length + cs - 1) / cs
            guard let r = free.allocate(need, policy: header.allocator) else {
                throw volumeFull(length)
            }
            run = r
        } else {
            guard let r = free.allocateLargest() else { throw volumeFull(1) }
            run = r
        }
        let capacity = Int64(run.count) * cs
        let start = run.lowerBound * cs
        var hasher = SHA256()
        var written: Int64 = 0
        let buffer = ioBlock()
        var overflow = false
        do throws(Errno) {
            while true {
                let want = Int(min(Int64(buffer.count), (length ?? capacity + 1) - written))
                if want == 0 { break }
                let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
                if n == 0 { break }
                if written + Int64(n) > capacity {
                    overflow = true
                    break
                }
                let block = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                if o.digest == nil { hasher.update(bufferPointer: block) }
                try fd.pwriteFully(at: start + written, block)
                written += Int64(n)
            }
        } catch {
            free.release(run)
            throw .io("\(path): cannot add object\(o.name.isEmpty ? "" : " '\(o.name)'")", error)
        }
        if overflow {
            free.release(run)
            throw volumeFull(written)
        }
        if let length, written != length {
            free.release(run)
            throw SHFSError(.io, "\(o.name.isEmpty ? "input" : o.name) changed while being read (\(written) of \(length) bytes); nothing was added")
        }
        return try stageWritten(run: run, length: written, options: o, replacing: old, digest: o.digest ?? Array(Array(hasher.finalize()).prefix(header.digestLength)))
    }

    /// Stages an object whose `length` bytes are written at the start of the chunks `run`
    /// (allocated from ``free``): gives back the chunks it does not use and reserves its slot;
    /// the entry is written by the next ``commit()``. On failure the whole run is released.
    func stageWritten(run: Range<Int64>, length written: Int64, options o: ObjectOptions, replacing old: Entry?, digest: [UInt8]) throws(SHFSError) -> Entry {
        let cs = Int64(header.chunkSize)
        var run = run
        let start = run.lowerBound * cs
        let used = (written + cs - 1) / cs
        if used < Int64(run.count) {
            free.release((run.lowerBound + used)..<run.upperBound)
            run = run.lowerBound..<(run.lowerBound + used)
        }
        let slot: Int
        do throws(SHFSError) {
            if o.digest == nil { try checkNew(digest: digest, name: o.name) }
            if let old { slot = old.slot } else { slot = try freeSlot(for: digest) }
        } catch {
            free.release(run)
            throw error
        }
        var flags: Entry.Flags = []
        if o.hidden { flags.insert(.hidden) }
        let extent = Extent(byteOffset: written == 0 ? header.dataStartChunk * cs : start, length: written, mimeType: o.mimeType, encoding: o.encoding)
        if written == 0 { free.release(run) }
        let entry = Entry(slot: slot, digest: digest, name: o.name, creationTime: now(), flags: flags, content: .object(extent))
        if let old { forget(old, releasingChunks: false) }
        insert(entry)
        staged.append(slot)
        stagedBytes += written
        return entry
    }

    /// Bytes of object data staged and not yet committed.
    public var uncommittedBytes: Int64 { stagedBytes }

    /// Syncs staged data, then writes the staged entries (each one aligned `pwrite`) and syncs them.
    public func commit() throws(SHFSError) {
        guard !staged.isEmpty else { return }
        do { try fd.syncData() } catch { throw .io("\(path): cannot sync object data", error) }
        let slotsToWrite = staged
        for s in slotsToWrite {
            try writeSlot(s)
            staged.removeFirst()
        }
        stagedBytes = 0
        try sync()
    }

    /// Forgets staged objects whose entries were not written; their chunks become free again.
    public func discardStaged() {
        for s in staged {
            if let e = slots[s] { forget(e) }
        }
        staged.removeAll()
        stagedBytes = 0
    }

    /// Adds a link: `http://host[:port]/path` served as a redirect or fetched from the remote.
    ///
    /// - Parameter digest: the digest to store; default the SHA-256 of `url`.
    @discardableResult
    public func addLink(url: String, type: LinkType, name: String = "", digest: [UInt8]? = nil, hidden: Bool = false) throws(SHFSError) -> Entry {
        let link = try Link(url: url, type: type)
        try checkAttributes(name: name, mimeType: "", encoding: "")
        let d = digest ?? Array(Array(SHA256.hash(data: Array(url.utf8))).prefix(header.digestLength))
        try checkNew(digest: d, name: name)
        let slot = try freeSlot(for: d)
        var flags: Entry.Flags = [.link]
        if hidden { flags.insert(.hidden) }
        let entry = Entry(slot: slot, digest: d, name: name, creationTime: now(), flags: flags, content: .link(link))
        insert(entry)
        do throws(SHFSError) {
            try writeSlot(slot)
            try sync()
        } catch {
            forget(entry)
            throw error
        }
        return entry
    }

    // MARK: Changing entries

    /// Removes an object or link; its chunks become free.
    public func remove(_ entry: Entry) throws(SHFSError) {
        _ = try remove(entry, retainingChunks: false)
    }

    /// Renames an object (names are unique; empty removes the name).
    @discardableResult
    public func rename(_ entry: Entry, to name: String) throws(SHFSError) -> Entry {
        var e = try current(entry)
        try checkAttributes(name: name, mimeType: "", encoding: "")
        if !name.isEmpty, let other = nameSlots[name], other != e.slot {
            throw SHFSError(.duplicateName, "\(path): the name '\(name)' is already used by slot \(other); remove or rename that object first")
        }
        e.name = name
        try replace(e)
        return e
    }

    /// Makes `entry` the default object (served for `/`), clearing the flag on any other.
    @discardableResult
    public func setDefault(_ entry: Entry) throws(SHFSError) -> Entry {
        var e = try current(entry)
        _ = try clearDefault(except: e.slot)
        if !e.isDefault {
            e.flags.insert(.isDefault)
            try replace(e)
        }
        return e
    }

    /// Clears the default flag everywhere; returns how many entries had it.
    @discardableResult
    public func clearDefault() throws(SHFSError) -> Int {
        try clearDefault(except: nil)
    }

    /// Sets or clears the hidden flag.
    @discardableResult
    public func setHidden(_ entry: Entry, _ hidden: Bool) throws(SHFSError) -> Entry {
        var e = try current(entry)
        if hidden { e.flags.insert(.hidden) } else { e.flags.remove(.hidden) }
        try replace(e)
        return e
    }

    private func clearDefault(except keep: Int?) throws(SHFSError) -> Int {
        var count = 0
        for var e in slots.entries where e.isDefault && e.slot != keep {
            e.flags.remove(.isDefault)
            try replace(e)
            count += 1
        }
        return count
    }

    // MARK: Internals

    func current(_ entry: Entry) throws(SHFSError) -> Entry {
        guard entry.slot >= 0, entry.slot < slots.count, let e = slots[entry.slot], e.digest == entry.digest else {
            throw SHFSError(.notFound, "\(path): object \(entry.hexDigest) is no longer on the volume")
        }
        return e
    }

    private func replace(_ e: Entry) throws(SHFSError) {
        let old = slots[e.slot]!
        forget(old)
        insert(e)
        do throws(SHFSError) {
            try writeSlot(e.slot)
            try sync()
        } catch {
            forget(e)
            insert(old)
            throw error
        }
    }

    func insert(_ e: Entry) {
        slots[e.slot] = e
        digestSlots[e.digest] = e.slot
        if !e.name.isEmpty, nameSlots[e.name] == nil { nameSlots[e.name] = e.slot }
        if let x = e.extent {
            let r = Self.chunks(of: x, chunkSize: header.chunkSize)
            if !r.isEmpty { _ = free.take(r) }
        }
    }

    func forget(_ e: Entry, releasingChunks: Bool = true) {
        slots[e.slot] = nil
        digestSlots[e.digest] = nil
        if nameSlots[e.name] == e.slot { nameSlots[e.name] = nil }
        if releasingChunks { free.release(releasableChunks(of: e)) }
    }

    /// The chunks only `e` uses (not those it may share with a neighbour).
    func releasableChunks(of e: Entry) -> Range<Int64> {
        guard let x = e.extent else { return 0..<0 }
        var r = Self.chunks(of: x, chunkSize: header.chunkSize)
        if !r.isEmpty, x.byteOffset % Int64(header.chunkSize) != 0 { r = (r.lowerBound + 1)..<r.upperBound }
        if !r.isEmpty, sharedChunks.contains(r.upperBound - 1) { r = r.lowerBound..<(r.upperBound - 1) }
        return r
    }

    /// Writes one slot's current state (entry or zeros) to the table, and to the backup table.
    func writeSlot(_ slot: Int) throws(SHFSError) {
        let bytes = slots[slot]?.encoded(chunkSize: header.chunkSize) ?? [UInt8](repeating: 0, count: Layout.Entry.size)
        for backup in header.hasBackupTable ? [false, true] : [false] {
            let offset = header.entryByteOffset(slot: slot, backup: backup)
            do {
                try fd.withRangeLock(exclusive: true, offset: offset, length: Int64(Layout.Entry.size)) { () throws(Errno) in
                    try fd.pwrite(bytes, at: offset)
                }
            } catch {
                throw .io("\(path): cannot write the entry of slot \(slot)", error)
            }
        }
    }

    /// Makes every write so far durable (`fdatasync`).
    public func sync() throws(SHFSError) {
        do { try fd.syncData() } catch { throw .io("\(path): cannot sync", error) }
    }

    func checkAttributes(name: String, mimeType: String, encoding: String) throws(SHFSError) {
        guard name.utf8.count <= Layout.Entry.nameSize else {
            throw SHFSError(.invalidArgument, "name '\(name)' is \(name.utf8.count) bytes; SHFS names are at most 64 bytes (give a shorter --name)")
        }
        guard mimeType.utf8.count <= Layout.Entry.mimeSize else {
            throw SHFSError(.invalidArgument, "MIME type '\(mimeType)' is \(mimeType.utf8.count) bytes; the limit is 32")
        }
        guard encoding.utf8.count <= Layout.Entry.encodingSize else {
            throw SHFSError(.invalidArgument, "encoding '\(encoding)' is \(encoding.utf8.count) bytes; the limit is 16")
        }
        guard !name.utf8.contains(0), !mimeType.utf8.contains(0), !encoding.utf8.contains(0) else {
            throw SHFSError(.invalidArgument, "names, MIME types and encodings cannot contain NUL bytes")
        }
    }

    func checkNew(digest: [UInt8]?, name: String) throws(SHFSError) {
        if let d = digest {
            guard d.count == header.digestLength, d.contains(where: { $0 != 0 }) else {
                throw SHFSError(.invalidArgument, "digest must be \(header.digestLength) bytes (\(header.digestLength * 2) hex digits), not all zero")
            }
            if let s = digestSlots[d], let other = slots[s] {
                let label = other.name.isEmpty ? "slot \(s)" : "'\(other.name)'"
                throw SHFSError(.duplicateDigest, "\(path): an object with digest \(Hex.string(d)) is already on the volume (\(label)); nothing was added")
            }
        }
        if !name.isEmpty, let s = nameSlots[name] {
            throw SHFSError(.duplicateName, "\(path): the name '\(name)' is already used by slot \(s); remove it first (`shfs rm \(path) \(name)`) or give another --name")
        }
    }

    private func freeSlot(for digest: [UInt8]) throws(SHFSError) -> Int {
        let bucket = Entry.bucket(ofDigest: digest, bucketCount: header.bucketCount)
        let first = bucket * header.entriesPerBucket
        guard let s = (first..<(first + header.entriesPerBucket)).first(where: { slots[$0] == nil }) else {
            throw SHFSError(.bucketFull, "\(path): hash bucket \(bucket) is full (\(header.entriesPerBucket) entries per bucket, \(header.bucketCount) buckets); recreate the volume with a larger --entries-per-bucket or --buckets")
        }
        return s
    }

    func volumeFull(_ bytes: Int64) -> SHFSError {
        let (total, largest) = freeBytes
        return SHFSError(.volumeFull, "\(path): volume full: no free extent for \(bytes) bytes (\(total) bytes free, largest free extent \(largest) bytes); make a larger volume with `shfs mkfs --size`")
    }

    private func ioBlock() -> UnsafeMutableRawBufferPointer {
        if let b = ioBuffer { return b }
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.blockSize, alignment: 4096)
        ioBuffer = b
        return b
    }

    private func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    static func chunks(of x: Extent, chunkSize: Int) -> Range<Int64> {
        guard x.length > 0 else { return 0..<0 }
        let cs = Int64(chunkSize)
        let first = x.byteOffset / cs
        return first..<((x.byteOffset + x.length + cs - 1) / cs)
    }
}

struct MemorySource {
    var bytes: [UInt8]
    var position = 0

    mutating func read(into buf: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(buf.count, bytes.count - position)
        bytes.withUnsafeBytes { src in
            buf.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[position..<(position + n)]))
        }
        position += n
        return n
    }
}
