import Logging
import Metrics
import NIOCore
import NIOPosix
import SHFS
import Synchronization

/// Keeps cached responses in the volume: each is a hidden SHFS object whose digest is the cache
/// key's, holding the ``CachedMetadata`` block then the body.
///
/// Writes run on one store thread (never on an event loop) through one ``VolumeWriter``, opened
/// at the first write or removal and kept for the process lifetime; it holds the SHFS writer lock
/// only while it writes, so `shfs add`/`rm` from another process still work (the store notices
/// and reloads). Writes queue up while the thread is busy and are committed in groups: the data
/// of every write in a group is written and synced once, then their entries are written and
/// synced once (the entry write is the commit, so a write cut short stores nothing). Each group
/// is published as one new ``Mount`` derived from the current one (no volume read, no
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
    private let queue = Mutex(Queue())
    private let maxQueuedBytes: Int
    private let maxBatch: Int

    /// Operations waiting for the store thread, in the order they were asked for.
    private struct Queue {
        var operations: [Operation] = []
        var bytes = 0
        var draining = false
        /// The store thread was started (by the first operation: a cache that stores nothing
        /// has no thread), or may not be any more (the store stopped).
        var threadStarted = false
    }

    private enum Operation {
        case write(CacheStoreState.Write, @Sendable (Bool) -> Void)
        case update(CacheDigest, StoredResponse, @Sendable (Bool) -> Void)
        case remove([CacheDigest], @Sendable (Int) -> Void)

        var bytes: Int {
            if case .write(let write, _) = self { return write.body.count + (write.record?.count ?? 0) }
            return 0
        }

        func fail() {
            switch self {
            case .write(_, let done), .update(_, _, let done): done(false)
            case .remove(_, let done): done(0)
            }
        }
    }

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
        self.maxQueuedBytes = configuration.maxQueuedBytes
        self.maxBatch = max(1, configuration.maxBatch)
        self.state = Mutex(CacheStoreState(volumes: volumes, configuration: configuration, metrics: self.metrics, logger: logger))
        self.thread = NIOThreadPool(numberOfThreads: 1)
        // What the store tracks is known before the first request, not at the first write: a purge
        // or a revalidation before any write must find the objects stored before a restart. It
        // comes from the mount (nothing to do on an empty volume); the writer opens at the first
        // write or removal.
        self.state.withLock { $0.open() }
    }

    /// Finishes the writes already submitted, then stops the store thread and releases the
    /// volume; later writes complete with `false`. Call it once the server stopped serving.
    package func shutdown() async {
        guard !self.stopped.exchange(true, ordering: .relaxed) else { return }
        // An operation racing with the stop must not start the thread now: it fails instead.
        self.queue.withLock { $0.threadStarted = true }
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
        self.store(digest: digest, response: response, url: url, body: StoredBody(body), done: done)
    }

    /// Stores a complete response from the buffers its body arrived in (see ``store(digest:response:url:body:done:)``).
    package func store(
        digest: CacheDigest,
        response: StoredResponse,
        url: String,
        body: StoredBody,
        done: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        var stamped = response
        if !url.isEmpty { stamped.url = url }
        stamped.storedAt = CacheStoreState.wallClockNanoseconds()
        self.enqueue(.write(CacheStoreState.Write(digest: digest, response: stamped, body: body, record: nil), done))
    }

    /// Stores a record that is not a response (a ``VaryIndex``) under `digest`.
    package func store(digest: CacheDigest, record: [UInt8], done: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.enqueue(.write(CacheStoreState.Write(digest: digest, response: nil, body: StoredBody(), record: record), done))
    }

    /// Replaces the metadata of a stored response (after a `304`, RFC 9111 §4.3.4), keeping its
    /// body: in place when the new block fits the object's header area, else by rewriting it.
    package func updateMetadata(digest: CacheDigest, response: StoredResponse, done: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.enqueue(.update(digest, response, done))
    }

    /// Removes the objects stored under `digests`; `done` gets how many there were.
    package func remove(digests: [CacheDigest], done: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.enqueue(.remove(digests, done))
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

    private func enqueue(_ operation: Operation) {
        guard !self.stopped.load(ordering: .relaxed) else { return operation.fail() }
        let (accepted, start) = self.queue.withLock { queue -> (Bool, Bool) in
            if operation.bytes > 0, queue.bytes + operation.bytes > self.maxQueuedBytes { return (false, false) }
            queue.operations.append(operation)
            queue.bytes += operation.bytes
            if !queue.threadStarted {
                queue.threadStarted = true
                self.thread.start()
            }
            defer { queue.draining = true }
            return (true, !queue.draining)
        }
        guard accepted else {
            self.metrics.failed(.busy)
            return operation.fail()
        }
        guard start else { return }
        self.thread.submit { poolState in
            guard poolState == .active else {
                let stranded = self.queue.withLock { queue in
                    defer { queue = Queue() }
                    return queue.operations
                }
                return stranded.forEach { $0.fail() }
            }
            self.drain()
        }
    }

    /// Runs queued operations in order until the queue is empty, committing consecutive writes
    /// in groups of up to `maxBatch`. Runs on the store thread.
    private func drain() {
        while true {
            let operations = self.queue.withLock { queue -> [Operation] in
                let taken = Array(queue.operations.prefix(self.maxBatch))
                queue.operations.removeFirst(taken.count)
                queue.bytes -= taken.reduce(0) { $0 + $1.bytes }
                if taken.isEmpty { queue.draining = false }
                return taken
            }
            guard !operations.isEmpty else { return }
            let outcomes = self.state.withLock { state in Self.run(operations, on: state) }
            var completions: [() -> Void] = []
            for (operation, outcome) in zip(operations, outcomes) {
                switch operation {
                case .write(_, let done), .update(_, _, let done): completions.append { done(outcome > 0) }
                case .remove(_, let done): completions.append { done(outcome) }
                }
            }
            for completion in completions { completion() }
        }
    }

    /// Runs operations in order, consecutive writes as one group commit. Returns per operation
    /// 1 or 0 (stored or not) for writes and updates, the count removed for removals.
    private static func run(_ operations: [Operation], on state: CacheStoreState) -> [Int] {
        var outcomes = [Int](repeating: 0, count: operations.count)
        var group: [(index: Int, write: CacheStoreState.Write)] = []
        func commitGroup() {
            guard !group.isEmpty else { return }
            let results = state.write(group.map(\.write))
            for (member, stored) in zip(group, results) { outcomes[member.index] = stored ? 1 : 0 }
            group = []
        }
        for (index, operation) in operations.enumerated() {
            switch operation {
            case .write(let write, _):
                group.append((index, write))
            case .update(let digest, let response, _):
                commitGroup()
                outcomes[index] = state.updateMetadata(digest: digest, response: response) ? 1 : 0
            case .remove(let digests, _):
                commitGroup()
                outcomes[index] = (try? state.remove(digests.map { state.key($0) })) ?? 0
            }
        }
        commitGroup()
        return outcomes
    }
}
