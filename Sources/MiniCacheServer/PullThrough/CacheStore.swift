import Logging
import NIOHTTP1
import NIOPosix
import SHFS
import Synchronization

/// Keeps cached responses in the volume: each is a hidden SHFS object whose digest is the cache
/// key's, holding the ``CachedMetadata`` block then the body.
///
/// All writes run on one store thread (never on an event loop), under the SHFS writer lock; the
/// entry write is the commit, so a write cut short stores nothing. Completion handlers run on the
/// store thread once the change is visible in ``VolumeHolder/current``.
package final class CacheStore: Sendable {
    private let volumes: VolumeHolder
    private let thread: NIOThreadPool
    private let logger: Logger
    private let counters = Mutex(Counters())

    /// What the store has done since it started.
    package struct Counters: Sendable, Equatable {
        package var stored = 0
        package var storeFailures = 0
        package var removed = 0
    }

    package init(volumes: VolumeHolder, logger: Logger) {
        self.volumes = volumes
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.thread.start()
        self.logger = logger
    }

    deinit {
        self.thread.shutdownGracefully { _ in }
    }

    package var statistics: Counters { self.counters.withLock { $0 } }

    /// The digest bytes an entry of the mounted volume has for `digest`.
    package func storedDigest(_ digest: CacheDigest) -> [UInt8] {
        Array(digest.bytes.prefix(self.volumes.current.volume.header.digestLength))
    }

    /// Stores a complete response, replacing what was stored under `digest`.
    /// - Parameters:
    ///   - url: the request URL the response answers (kept for purges by prefix).
    ///   - done: called with whether the object is now stored.
    package func store(
        digest: CacheDigest,
        response: StoredResponse,
        url: String,
        body: [UInt8],
        done: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        var options = ObjectOptions(hidden: true)
        if let type = response.headers.first(name: "content-type"), type.utf8.count <= 32 { options.mimeType = type }
        if let encoding = response.headers.first(name: "content-encoding"), encoding.utf8.count <= 16 {
            options.encoding = encoding
        }
        let object = CachedMetadata.encode(response) + body
        self.write(digest: digest, bytes: object, options: options, what: "a fetched response", done: done)
    }

    /// Stores a record that is not a response (a ``VaryIndex``) under `digest`.
    package func store(digest: CacheDigest, record: [UInt8], done: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.write(digest: digest, bytes: record, options: ObjectOptions(hidden: true), what: "a Vary index", done: done)
    }

    /// Replaces the metadata of a stored response (after a `304`, RFC 9111 §4.3.4), keeping its body.
    package func updateMetadata(digest: CacheDigest, response: StoredResponse, done: @escaping @Sendable (Bool) -> Void = { _ in }) {
        let mount = self.volumes.current
        guard let index = mount.byDigest.lookup(Array(digest.description.prefix(mount.digestHexLength).utf8)),
            let cached = mount.objects[index].cached
        else { return done(false) }
        let entry = mount.objects[index].entry
        self.thread.submit { state in
            guard state == .active else { return done(false) }
            let body: [UInt8]
            do { body = try mount.volume.contents(of: entry) } catch { return done(false) }
            var updated = response
            updated.bodyLength = cached.response.bodyLength
            self.store(digest: digest, response: updated, url: "", body: Array(body[Int(cached.headerArea)...]), done: done)
        }
    }

    /// Removes the objects stored under `digests`; `done` gets how many there were.
    package func remove(digests: [CacheDigest], done: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.thread.submit { state in
            guard state == .active else { return done(0) }
            done((try? self.removeNow(digests: digests)) ?? 0)
        }
    }

    /// Removes the objects stored under `digests` at once (admin purges).
    /// - Returns: how many were stored and are now gone.
    package func removeNow(digests: [CacheDigest]) throws(MiniCacheError) -> Int {
        var removed = 0
        do {
            try { () throws(SHFSError) in
                let writer = try VolumeWriter(path: self.volumes.path, waitForLock: true)
                for digest in digests {
                    let hex = String(digest.description.prefix(writer.header.digestLength * 2))
                    if let entry = writer.entry(digestOrName: hex), entry.isHidden {
                        try writer.remove(entry)
                        removed += 1
                    }
                }
            }()
        } catch {
            throw MiniCacheError(.volume, "cannot remove cached objects from \(self.volumes.path): \(error)", underlying: error)
        }
        if removed > 0 {
            self.counters.withLock { $0.removed += removed }
            try self.volumes.remount(reason: "cache removal")
        }
        return removed
    }

    private func write(digest: CacheDigest, bytes: [UInt8], options: ObjectOptions, what: String, done: @escaping @Sendable (Bool) -> Void) {
        let path = self.volumes.path
        self.thread.submit { state in
            guard state == .active else { return done(false) }
            var options = options
            do {
                // The writer (and its exclusive lock) must be gone before the remount takes the shared lock.
                try { () throws(SHFSError) in
                    let writer = try VolumeWriter(path: path, waitForLock: true)
                    let stored = Array(digest.bytes.prefix(writer.header.digestLength))
                    options.digest = stored
                    if let older = writer.entry(digestOrName: String(digest.description.prefix(stored.count * 2))) {
                        try writer.remove(older)
                    }
                    try writer.add(bytes: bytes, options: options)
                }()
                _ = try self.volumes.remount(reason: "cache fill")
                self.counters.withLock { $0.stored += 1 }
                done(true)
            } catch {
                self.counters.withLock { $0.storeFailures += 1 }
                self.logger.warning(
                    "cannot store \(what); it was served without being kept",
                    metadata: ["cache.digest": "\(digest)", "error": "\(error)"]
                )
                done(false)
            }
        }
    }
}
