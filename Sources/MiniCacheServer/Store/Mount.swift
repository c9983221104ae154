#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import SHFS
import SystemPackage

/// One mounted snapshot of a volume: its objects prepared for serving and indexes from request
/// bytes to them. Immutable; a remount builds a new one and in-flight responses keep theirs.
package final class Mount: Sendable {
    package let volume: Volume
    package let generation: Int
    package let objects: [PreparedObject]
    /// Lower-case hex digest → index in `objects`.
    package let byDigest: BytesIndex
    /// Name → index in `objects` (hidden entries are reachable by digest only).
    package let byName: BytesIndex
    package let defaultObject: PreparedObject?
    /// A second descriptor of the volume file for `FileRegion`, closed with the mount.
    package let fileHandle: NIOFileHandle
    /// The volume's descriptor, for `pread`.
    package let fileDescriptor: CInt
    /// Bytes of object content held in memory.
    package let memoryBytes: Int

    /// Prepares every entry of `volume`.
    /// - Parameters:
    ///   - prefetch: digests of objects to keep in memory whatever their size.
    package init(
        volume: Volume,
        generation: Int,
        configuration: ServerConfiguration,
        counters: StatsRegistry,
        prefetch: Set<[UInt8]> = []
    ) throws(MiniCacheError) {
        var objects: [PreparedObject] = []
        objects.reserveCapacity(volume.entries.count)
        var digestKeys: [([UInt8], Int)] = []
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
            let index = objects.count
            objects.append(object)
            digestKeys.append((object.etag, index))
            if !entry.name.isEmpty, !entry.isHidden { nameKeys.append((Array(entry.name.utf8), index)) }
            if defaultObject == nil, entry.isDefault { defaultObject = object }
        }
        let fd = dup(volume.fileDescriptor.rawValue)
        guard fd >= 0 else {
            throw MiniCacheError(.volume, "cannot duplicate the descriptor of \(volume.path) (errno \(errno))")
        }
        self.volume = volume
        self.generation = generation
        self.objects = objects
        self.byDigest = BytesIndex(digestKeys)
        self.byName = BytesIndex(nameKeys)
        self.defaultObject = defaultObject
        self.fileHandle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        self.memoryBytes = memory
        self.fileDescriptor = volume.fileDescriptor.rawValue
    }

    deinit {
        try? self.fileHandle.close()
    }

    package var digestHexLength: Int { self.volume.header.digestLength * 2 }

    /// The stored response at the front of a hidden object written by the pull-through cache.
    private static func cachedMetadata(_ entry: Entry, in volume: Volume) -> CachedMetadata? {
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
