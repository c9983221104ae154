import Logging
import Metrics
import NIOCore
import NIOPosix
import SHFS
import Synchronization

/// Keeps cached responses in the volume: each is a hidden SHFS object whose digest is the cache
/// key's, holding the ``CachedMetadata`` block then the body.
///
/// Writes run on one store thread (never on an event loop) through one ``VolumeWriter`` kept for
/// the process lifetime; it holds the SHFS writer lock only while it writes, so `shfs add`/`rm`
/// from another process still work (the store notices and reloads). Data is written and synced
/// first and the entry write is the commit, so a write cut short stores nothing. Each committed
/// change is published as a new ``Mount`` derived from the current one (no volume read, no
/// re-preparing of other objects); completion handlers run once it is visible in
/// ``MountedVolume/current``.
///
/// When the data area or the object's hash bucket is full, objects the cache wrote are evicted
/// by the configured policy (never the operator's content). Hits are not reported to the store:
/// the policy reads each candidate's lock-free hit counters when it looks for a victim. Chunks
/// of an evicted object that was served from the volume file are reused only once no mount that
/// listed it is alive, so a download in flight keeps its bytes.
package final class CacheStore: Sendable {
    private let volumes: MountedVolume
    private let thread: NIOThreadPool
    private let logger: Logger
    private let state: Mutex<CacheStoreState>
    /// What the store did and holds.
    package let metrics: CacheStoreMetrics
    private let stopped = Atomic<Bool>(false)
    /// The policy in use, readable without waiting for a write in progress.
    private let evictionKind: Mutex<EvictionKind>

    /// What the store has done since it started.
    package struct Counters: Sendable, Equatable {
        package var stored = 0
        package var storeFailures = 0
        package var removed = 0
        package var evicted = 0
    }

    /// - Parameters:
    ///   - configuration: eviction policy and limits.
    ///   - metricsFactory: where the store's metric handles are created.
    package init(
        volumes: MountedVolume,
        logger: Logger,
        configuration: CacheStoreConfiguration = CacheStoreConfiguration(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.volumes = volumes
        self.logger = logger
        self.metrics = CacheStoreMetrics(factory: metricsFactory)
        self.evictionKind = Mutex(configuration.eviction)
        self.state = Mutex(CacheStoreState(volumes: volumes, configuration: configuration, metrics: self.metrics, logger: logger))
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.thread.start()
    }

    /// Finishes the writes already submitted, then stops the store thread and releases the
    /// volume; later writes complete with `false`. Call it once the server stopped serving.
    package func shutdown() async {
        guard !self.stopped.exchange(true, ordering: .relaxed) else { return }
        try? await self.thread.shutdownGracefully()
        self.state.withLock { $0.close() }
    }

    package var statistics: Counters {
        let snapshot = self.metrics.snapshot
        return Counters(
            stored: snapshot.stored,
            storeFailures: snapshot.failures.values.reduce(0, +),
            removed: snapshot.removed,
            evicted: snapshot.evictions.values.reduce(0, +)
        )
    }

    /// The eviction policy in use.
    package var eviction: EvictionKind { self.evictionKind.withLock { $0 } }

    /// Switches to another eviction policy, rebuilt from the objects stored (oldest first).
    package func useEviction(_ kind: EvictionKind) {
        self.evictionKind.withLock { $0 = kind }
        self.state.withLock { $0.useEviction(kind) }
    }

    /// The digest bytes an entry of the mounted volume has for `digest`.
    package func storedDigest(_ digest: CacheDigest) -> [UInt8] {
        Array(digest.bytes.prefix(self.volumes.current.volume.header.digestLength))
    }

    /// Stores a complete response, replacing what was stored under `digest`.
    /// - Parameters:
    ///   - url: the request target the response answers (kept for purges by URL and prefix).
    ///   - done: called with whether the object is now stored.
    package func store(
        digest: CacheDigest,
        response: StoredResponse,
        url: String,
        body: [UInt8],
        done: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        var stamped = response
        if !url.isEmpty { stamped.url = url }
        stamped.storedAt = CacheStoreState.wallClockNanoseconds()
        let response = stamped
        self.submit(done) { state in
            state.write(digest: digest, response: response, body: body, record: nil)
        }
    }

    /// Stores a record that is not a response (a ``VaryIndex``) under `digest`.
    package func store(digest: CacheDigest, record: [UInt8], done: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.submit(done) { state in
            state.write(digest: digest, response: nil, body: [], record: record)
        }
    }

    /// Replaces the metadata of a stored response (after a `304`, RFC 9111 §4.3.4), keeping its
    /// body: in place when the new block fits the object's header area, else by rewriting it.
    package func updateMetadata(digest: CacheDigest, response: StoredResponse, done: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.submit(done) { state in
            state.updateMetadata(digest: digest, response: response)
        }
    }

    /// Removes the objects stored under `digests`; `done` gets how many there were.
    package func remove(digests: [CacheDigest], done: @escaping @Sendable (Int) -> Void = { _ in }) {
        guard !self.stopped.load(ordering: .relaxed) else { return done(0) }
        self.thread.submit { poolState in
            guard poolState == .active else { return done(0) }
            done((try? self.removeNow(digests: digests)) ?? 0)
        }
    }

    /// Removes the objects stored under `digests` at once (admin purges).
    /// - Returns: how many were stored and are now gone.
    package func removeNow(digests: [CacheDigest]) throws(MiniCacheError) -> Int {
        try self.state.withLock { state throws(MiniCacheError) in
            try state.remove(digests.map { state.key($0) })
        }
    }

    /// Removes every cached response whose request URL is `url` (path and query), with the
    /// records stored under `extra` (e.g. the URL's primary key, which may hold a Vary index).
    /// - Returns: how many objects are gone.
    package func purge(url: String, extra: [CacheDigest] = []) throws(MiniCacheError) -> Int {
        try self.state.withLock { state throws(MiniCacheError) in
            try state.purge(matching: { $0 == url }, extra: extra.map { state.key($0) })
        }
    }

    /// Removes every cached response whose request URL starts with `prefix`, with the records
    /// stored under the digests `extra` returns for each URL removed.
    /// - Returns: how many objects are gone.
    package func purge(prefix: String, extra: (String) -> [CacheDigest] = { _ in [] }) throws(MiniCacheError) -> Int {
        let urls = self.state.withLock { $0.urls(withPrefix: prefix) }
        let keys = urls.flatMap { extra($0).map { self.storedDigest($0) } }
        return try self.state.withLock { state throws(MiniCacheError) in
            try state.purge(matching: { $0.hasPrefix(prefix) }, extra: keys)
        }
    }

    /// The request URLs of the cached responses, sorted.
    package var cachedURLs: [String] {
        self.state.withLock { $0.urls(withPrefix: "") }
    }

    /// The digests of the cached objects in the order the policy would evict them now (from a
    /// copy of the policy; the store is unchanged).
    package func evictionOrder() -> [[UInt8]] {
        self.state.withLock { $0.evictionOrder() }
    }

    private func submit(_ done: @escaping @Sendable (Bool) -> Void, _ work: @escaping @Sendable (inout CacheStoreState) -> Bool) {
        guard !self.stopped.load(ordering: .relaxed) else { return done(false) }
        self.thread.submit { poolState in
            guard poolState == .active else { return done(false) }
            done(self.state.withLock { work(&$0) })
        }
    }
}
