#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import SHFS
import Synchronization

/// Holds the current ``Mount`` and switches to a new one atomically on remount. Readers take the
/// current mount once per read batch; in-flight responses keep the mount they started with.
package final class MountedVolume: Sendable {
    package let path: String
    package let configuration: ServerConfiguration
    package let registry: StatsRegistry
    /// Mount generations still alive.
    package let tracker = MountTracker()
    private let stats: ServerStats
    private let logger: Logger
    private let state: Mutex<State>
    /// Serialises remounts (file watch and admin API) without blocking readers.
    private let remountLock = Mutex<Void>(())

    private struct State {
        var mount: Mount
        var fingerprint: FileFingerprint?
        var prefetch: Set<[UInt8]>
        /// The generation of the last mount that prepared every entry itself.
        var fullMount: Int
    }

    /// Identity and modification state of the volume file.
    package struct FileFingerprint: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    /// Opens and mounts the volume at `path`.
    package init(
        path: String,
        configuration: ServerConfiguration,
        registry: StatsRegistry,
        stats: ServerStats,
        logger: Logger
    ) throws(MiniCacheError) {
        self.path = path
        self.configuration = configuration
        self.registry = registry
        self.stats = stats
        self.logger = logger
        let lockFD = Self.lockShared(path)
        defer { Self.unlock(lockFD) }
        let fingerprint = Self.fingerprint(path)
        let mount = try Self.mount(path: path, generation: 1, configuration: configuration, registry: registry, tracker: self.tracker, prefetch: [])
        self.state = Mutex(State(mount: mount, fingerprint: fingerprint, prefetch: [], fullMount: mount.generation))
    }

    /// The mount to serve from now.
    @inline(__always)
    package var current: Mount { self.state.withLock { $0.mount } }

    /// The generation of the last full mount (at start, remount or prefetch). Mounts the cache
    /// store derives after it share its objects; that mount and older ones prepared their own,
    /// which may read from the volume an object a later mount keeps in memory.
    package var fullMountGeneration: Int { self.state.withLock { $0.fullMount } }

    /// Re-opens the volume and switches to it. On failure the current mount stays.
    @discardableResult
    package func remount(reason: String) throws(MiniCacheError) -> Mount {
        // The shared lock comes first: the cache store publishes while it holds the writer lock,
        // so waiting for the writer with `remountLock` held would deadlock.
        let lockFD = Self.lockShared(self.path)
        defer { Self.unlock(lockFD) }
        return try self.remountLock.withLock { _ throws(MiniCacheError) -> Mount in
            let (generation, prefetch) = self.state.withLock { ($0.mount.generation + 1, $0.prefetch) }
            let fingerprint = Self.fingerprint(self.path)
            let result = Result { () throws(MiniCacheError) -> Mount in
                try Self.mount(
                    path: self.path,
                    generation: generation,
                    configuration: self.configuration,
                    registry: self.registry,
                    tracker: self.tracker,
                    prefetch: prefetch
                )
            }
            let mount: Mount
            switch result {
            case .success(let mounted):
                mount = mounted
            case .failure(let error):
                self.state.withLock { $0.fingerprint = fingerprint }
                self.logger.error(
                    "remount failed, still serving the previous table",
                    metadata: ["volume.path": "\(self.path)", "remount.reason": "\(reason)", "error": "\(error)"]
                )
                throw error
            }
            self.state.withLock {
                $0.mount = mount
                $0.fingerprint = fingerprint
                $0.fullMount = generation
            }
            self.stats.remounted()
            self.logger.info(
                "volume remounted",
                metadata: [
                    "volume.path": "\(self.path)", "volume.generation": "\(generation)",
                    "volume.objects": "\(mount.objects.count)", "remount.reason": "\(reason)",
                ]
            )
            return mount
        }
    }

    /// Publishes a mount derived from the current one by `changes` (what the cache store just
    /// committed), without reading the volume. Serialised with remounts.
    /// - Parameters:
    ///   - before: the file's fingerprint the store saw when it took the writer lock.
    ///   - after: the file's fingerprint once its write was committed. When the mount served was
    ///     made from `before`, the file watch is told the file now is `after` (the store's own
    ///     write is no reason for a full remount); otherwise the watch remounts as usual.
    /// - Returns: the generation of the mount that no longer holds what `changes` replaced.
    @discardableResult
    package func publish(
        changes: [(slot: Int, object: PreparedObject?)],
        before: FileFingerprint?,
        after: FileFingerprint?
    ) -> Mount {
        self.remountLock.withLock { _ in
            self.state.withLock { state in
                let mount = Mount(deriving: state.mount, generation: state.mount.generation + 1, changes: changes)
                state.mount = mount
                if before != nil, state.fingerprint == before { state.fingerprint = after }
                return mount
            }
        }
    }

    /// An object prepared for serving the way a mount prepares it; `body` is kept in memory when
    /// it is small enough and fits in the memory budget next to `memoryInUse` bytes.
    package func prepare(entry: Entry, body: [UInt8]?, cached: CachedMetadata?, memoryInUse: Int) -> PreparedObject {
        var kept: [UInt8]?
        if let body, body.count <= self.configuration.smallObjectLimit, memoryInUse + body.count <= self.configuration.memoryBudget {
            kept = body
        }
        return PreparedObject(
            entry: entry,
            body: kept,
            serverName: self.configuration.serverName,
            counters: self.registry.counters(for: entry.hexDigest),
            cached: cached
        )
    }

    /// Keeps `digests` (all objects when nil) in memory from now on, and remounts.
    package func prefetch(digests: [[UInt8]]?) throws(MiniCacheError) -> Mount {
        let all = self.current.objects.compactMap { $0.entry.extent == nil ? nil : $0.entry.digest }
        self.state.withLock { $0.prefetch.formUnion(digests ?? all) }
        return try self.remount(reason: "prefetch")
    }

    /// Remounts when the volume file changed since the last mount; called by the file watch.
    package func checkForChanges() {
        guard let now = Self.fingerprint(self.path), self.state.withLock({ $0.fingerprint != now }) else { return }
        // The cache store may be writing: once it is done (the shared lock waits for it), its own
        // changes are published and the file is no reason for a full remount.
        let lockFD = Self.lockShared(self.path)
        let settled = Self.fingerprint(self.path)
        let changed = settled != nil && self.state.withLock { $0.fingerprint != settled }
        Self.unlock(lockFD)
        guard changed else { return }
        _ = try? self.remount(reason: "volume file changed")
    }

    private static func mount(
        path: String,
        generation: Int,
        configuration: ServerConfiguration,
        registry: StatsRegistry,
        tracker: MountTracker,
        prefetch: Set<[UInt8]>
    ) throws(MiniCacheError) -> Mount {
        let volume: Volume
        do { volume = try Volume(path: path) } catch {
            throw MiniCacheError(.volume, "cannot mount \(path): \(error)", underlying: error)
        }
        return try Mount(
            volume: volume,
            generation: generation,
            configuration: configuration,
            counters: registry,
            tracker: tracker,
            prefetch: prefetch
        )
    }

    /// Takes a shared lock on the volume, which keeps writers (they take it exclusively) out
    /// while the table is read; -1 when the file cannot be opened.
    private static func lockShared(_ path: String) -> CInt {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { _ = flock(fd, LOCK_SH) }
        return fd
    }

    private static func unlock(_ fd: CInt) {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    package static func fingerprint(_ path: String) -> FileFingerprint? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileFingerprint(
            device: UInt64(st.st_dev),
            inode: UInt64(st.st_ino),
            size: Int64(st.st_size),
            modifiedSeconds: Int(st.st_mtim.tv_sec),
            modifiedNanoseconds: Int(st.st_mtim.tv_nsec)
        )
    }
}
