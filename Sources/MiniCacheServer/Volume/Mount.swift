#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import SHFS
import SystemPackage

/// One mounted snapshot of a volume: its objects prepared for serving and indexes from request
/// bytes to them. Immutable; a remount or a cache write publishes a new one and in-flight
/// responses keep theirs.
///
/// A full mount prepares every entry; a mount derived from another by the cache store shares
/// everything that did not change (the objects, the name index, the open descriptors).
package final class Mount: Sendable {
    package let generation: Int
    /// Prepared objects by slot; iterate it for every object, index it with a slot from a lookup.
    package let objects: ObjectTable
    /// Name → slot in `objects` (hidden entries are reachable by digest only).
    package let byName: BytesIndex
    package let defaultObject: PreparedObject?
    /// Bytes of object content held in memory.
    package let memoryBytes: Int
    private let files: Files
    private let tracker: MountTracker

    /// The volume opened at the last full mount: its headers, path and descriptor. Its entry
    /// table does not show what the cache store wrote since; `objects` does.
    package var volume: Volume { self.files.volume }
    /// Lower-case hex digest → slot in `objects`.
    package var byDigest: ObjectTable { self.objects }
    /// The volume's descriptor, for `pread`.
    package var fileDescriptor: CInt { self.files.volume.fileDescriptor.rawValue }
    package var digestHexLength: Int { self.files.volume.header.digestLength * 2 }

    /// The volume (and its descriptor) that mounts derived from one full mount share. A body sent
    /// with `sendfile` uses a duplicate of its own (``BodyStream``).
    private final class Files: Sendable {
        let volume: Volume

        init(volume: Volume) {
            self.volume = volume
        }
    }

    /// Prepares every entry of `volume`.
    /// - Parameters:
    ///   - prefetch: digests of objects to keep in memory whatever their size.
    package init(
        volume: Volume,
        generation: Int,
        configuration: ServerConfiguration,
        counters: StatsRegistry,
        tracker: MountTracker = MountTracker(),
        prefetch: Set<[UInt8]> = []
    ) throws(MiniCacheError) {
        var objects = ObjectTable(header: volume.header)
        var nameKeys: [([UInt8], Int)] = []
        var memory = 0
        var defaultObject: PreparedObject?
        for entry in volume.entries {
            var body: [UInt8]?
            let cached = entry.isHidden ? Self.cachedMetadata(entry, in: volume) : nil
            if let extent = entry.extent {
                let length = extent.length - (cached?.headerArea ?? 0)
                let wanted = length <= configuration.smallObjectLimit || prefetch.contains(entry.digest)
                if wanted, memory + Int(length) <= configuration.memoryBudget {
                    do { body = try volume.contents(of: entry) } catch {
                        throw MiniCacheError(.volume, "cannot read '\(entry.name)' from \(volume.path): \(error)", underlying: error)
                    }
                    if let cached { body = Array(body![Int(cached.headerArea)...]) }
                    memory += Int(length)
                }
            }
            let object = PreparedObject(
                entry: entry,
                body: body,
                serverName: configuration.serverName,
                counters: counters.counters(for: entry.hexDigest),
                cached: cached
            )
            objects.set(object, at: entry.slot)
            if !entry.name.isEmpty, !entry.isHidden { nameKeys.append((Array(entry.name.utf8), entry.slot)) }
            if defaultObject == nil, entry.isDefault { defaultObject = object }
        }
        self.files = Files(volume: volume)
        self.generation = generation
        self.objects = objects
        self.byName = BytesIndex(nameKeys)
        self.defaultObject = defaultObject
        self.memoryBytes = memory
        self.tracker = tracker
        tracker.opened(generation)
    }

    /// A mount sharing everything with `base` except the slots in `changes` (nil empties a slot).
    /// Only hidden, unnamed, non-default objects may change this way (what the cache store writes).
    package init(deriving base: Mount, generation: Int, changes: [(slot: Int, object: PreparedObject?)]) {
        var objects = base.objects
        var memory = base.memoryBytes
        for (slot, object) in changes {
            if let old = objects.object(at: slot), let body = old.body { memory -= body.readableBytes }
            if let body = object?.body { memory += body.readableBytes }
            objects.set(object, at: slot)
        }
        self.files = base.files
        self.generation = generation
        self.objects = objects
        self.byName = base.byName
        self.defaultObject = base.defaultObject
        self.memoryBytes = memory
        self.tracker = base.tracker
        base.tracker.opened(generation)
    }

    deinit {
        self.tracker.closed(self.generation)
    }

    /// The stored response at the front of a hidden object written by the pull-through cache.
    static func cachedMetadata(_ entry: Entry, in volume: Volume) -> CachedMetadata? {
        guard let extent = entry.extent, extent.length >= Int64(CachedMetadata.headerAreaAlignment) else { return nil }
        let fd = volume.fileDescriptor.rawValue
        func read(_ count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(extent.byteOffset)) }
            return n == count ? bytes : nil
        }
        guard let first = read(16), let length = CachedMetadata.blockLength(first), length <= extent.length, length <= 1 << 20,
            let block = read(length)
        else { return nil }
        return CachedMetadata.decode(prefix: block, objectLength: extent.length)
    }
}
