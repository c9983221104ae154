#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CacheEviction
import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import SHFS
import Synchronization
import SystemPackage

/// The store thread's side of a ``CacheStore``: the volume writer, the objects the cache wrote,
/// the eviction policy and the chunks held back for responses in flight. Used under the
/// store's lock only.
final class CacheStoreState {
    private let volumes: MountedVolume
    private(set) var configuration: CacheStoreConfiguration
    private let metrics: CacheStoreMetrics
    private let logger: Logger
    private var writer: VolumeWriter?
    /// The volume file as of the store's last write or load (a difference means another writer).
    private var fingerprint: MountedVolume.FileFingerprint?
    private var policy: any EvictionPolicy<[UInt8]>
    /// The objects the cache wrote, by stored digest.
    private var objects: [[UInt8]: Tracked] = [:]
    /// Request URL → stored digests of the responses for it.
    private var byURL: [String: Set<[UInt8]>] = [:]
    private var storedBytes: Int64 = 0
    /// Chunks of removed objects that mounts of `generations` may still read.
    private var quarantine: [(chunks: Range<Int64>, generations: ClosedRange<Int>)] = []

    private struct Tracked {
        var slot: Int
        var bytes: Int64
        var counters: ObjectCounters
        var seenHits: Int
        var url: String?
        /// The first mount generation that listed the object.
        var generation = 0
        /// When it was stored (``ObjectCounters/monotonicNow()``; 0 for objects found at start).
        var storedStamp: Int64 = 0
        /// Store order (objects found at start in the order of their store times).
        var order = 0

        /// When it was last used or stored, and its store order.
        var recency: (Int64, Int) { (max(self.counters.lastUse.load(ordering: .relaxed), self.storedStamp), self.order) }
    }
    private var nextOrder = 0
    /// The generation of the mount `objects`, `byURL` and the policy were loaded with (nil: not
    /// loaded yet); once the writer is open, they follow the writer's table instead.
    private var loadedGeneration: Int?
    /// Entries cleared since the last sync: their chunks may not take new data before one.
    private var unsyncedRemovals = false

    /// Why a write could not be kept.
    private struct Refusal: Error {
        var failure: CacheStoreMetrics.Failure
        var message: String
    }

    init(volumes: MountedVolume, configuration: CacheStoreConfiguration, metrics: CacheStoreMetrics, logger: Logger) {
        self.volumes = volumes
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.policy = configuration.eviction.makePolicy()
    }

    /// Loads what the store tracks (its objects, their URLs and eviction order) from the mount
    /// being served, if not done yet: purges, revalidations and the status after a restart must
    /// know what was stored before it. It costs in proportion to the cached objects, whose
    /// metadata the mount has read already (an empty volume costs nothing): the writer and its
    /// copy of the whole hash table wait for the first write or removal. Until then, a remount
    /// (another process changed the volume) is loaded again.
    func open() {
        let mount = self.volumes.current
        guard self.writer == nil, mount.generation != self.loadedGeneration else { return }
        self.load(mount.objects.lazy.map { ($0.entry, $0) }, in: mount)
        self.reportHolding()
    }

    /// Releases the writer (and with it the volume file).
    func close() {
        self.writer = nil
    }

    /// The stored digest of a cache digest on this volume.
    func key(_ digest: CacheDigest) -> [UInt8] {
        Array(digest.bytes.prefix(self.volumes.current.volume.header.digestLength))
    }

    static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
    }

    // MARK: Writes

    /// One response (metadata block + body) or record to store.
    struct Write: Sendable {
        var digest: CacheDigest
        var response: StoredResponse?
        var body: StoredBody
        var record: [UInt8]?
    }

    /// Stores a response or a record; true when it is committed and visible.
    func write(digest: CacheDigest, response: StoredResponse?, body: [UInt8], record: [UInt8]?) -> Bool {
        self.write([Write(digest: digest, response: response, body: StoredBody(body), record: record)])[0]
    }

    /// Stores several responses and records with group commits: room is made and chunks
    /// reserved for all of a group, evictions are synced once if there were any, the data of all
    /// is written and synced once, then their entries are written and synced once; the new
    /// objects appear in one derived mount. A write that finds no room while earlier writes of its
    /// group hold the space starts the next group once those are committed, so that it can evict
    /// them as it would have had they come one by one: a store thread that fell behind under load
    /// and found more writes queued than the volume holds keeps the newest instead of refusing
    /// them. Returns, per write, whether it is committed and visible.
    func write(_ writes: [Write]) -> [Bool] {
        var results = [Bool](repeating: false, count: writes.count)
        // A later write of the same key in the batch replaces an earlier one.
        var last: [[UInt8]: Int] = [:]
        for (index, write) in writes.enumerated() { last[self.key(write.digest)] = index }
        var next = 0
        while next < writes.count {
            next = self.commitGroup(writes, from: next, last: last, results: &results)
        }
        return results
    }

    /// Commits the writes from `start` on as one group, up to the first that finds no room while
    /// the group holds space; sets their results and returns the index of the first write left.
    private func commitGroup(_ writes: [Write], from start: Int, last: [[UInt8]: Int], results: inout [Bool]) -> Int {
        struct Planned {
            var index: Int
            var key: [UInt8]
            var block: [UInt8]
            var options: ObjectOptions
            var cached: CachedMetadata?
            var run: Range<Int64>
        }
        var planned: [Planned] = []
        let writer: VolumeWriter
        do { writer = try self.lockWriter() } catch {
            for write in writes[start...] { self.refused(Refusal(failure: .io, message: "\(error)"), digest: write.digest) }
            return writes.count
        }
        defer { writer.unlock() }
        var changes: [(slot: Int, object: PreparedObject?)] = []
        // Slots the group's new objects take per hash bucket: they are taken only when staged,
        // after every write of the group made its room.
        var newInBucket: [Int: Int] = [:]
        var end = writes.count
        for (index, write) in writes.enumerated().dropFirst(start) {
            let key = self.key(write.digest)
            guard last[key] == index else { continue }
            var options = ObjectOptions(hidden: true)
            options.digest = key
            var block = write.record ?? []
            var cached: CachedMetadata?
            if let response = write.response {
                block = CachedMetadata.encode(response)
                cached = CachedMetadata(response: response, headerArea: Int64(block.count))
                if let type = response.headers.first(name: "content-type"), type.utf8.count <= 32, !type.utf8.contains(0) {
                    options.mimeType = type
                }
                if let encoding = response.headers.first(name: "content-encoding"), encoding.utf8.count <= 16, !encoding.utf8.contains(0) {
                    options.encoding = encoding
                }
            }
            let length = Int64(block.count + (write.response == nil ? 0 : write.body.count))
            do {
                let limit = Int64(Double(self.dataAreaBytes(writer)) * self.configuration.maxObjectShare)
                guard length <= limit else {
                    throw Refusal(failure: .tooLarge, message: "\(length) bytes is more than \(limit) (the store keeps objects up to a share of the volume)")
                }
                if let existing = writer.entry(digest: key), self.objects[key] == nil || existing.slot != self.objects[key]!.slot {
                    throw Refusal(failure: .conflict, message: "an object of the volume's operator has digest \(existing.hexDigest)")
                }
                let replacing = writer.entry(digest: key) != nil
                let bucket = key.withUnsafeBytes { VolumeWriter.bucket(ofDigest: $0, bucketCount: writer.header.bucketCount) }
                try self.makeRoom(writer, key: key, bytes: length, replacing: replacing, slotsTaken: newInBucket[bucket, default: 0], into: &changes)
                guard let run = writer.reserve(length: length) else {
                    throw Refusal(failure: .full, message: "no free extent holds \(length) bytes")
                }
                if !replacing { newInBucket[bucket, default: 0] += 1 }
                planned.append(Planned(index: index, key: key, block: block, options: options, cached: cached, run: run))
            } catch let refusal as Refusal {
                if refusal.failure == .full, !planned.isEmpty {
                    // The group's own reservations may be what fills the volume: commit them first.
                    end = index
                    break
                }
                self.refused(refusal, digest: write.digest)
            } catch {
                self.refused(Refusal(failure: .io, message: "\(error)"), digest: write.digest)
            }
        }
        do {
            // Chunks of evicted objects served from memory were freed at once: their cleared
            // entries must be durable before new data goes there.
            if self.unsyncedRemovals {
                try writer.sync()
                self.unsyncedRemovals = false
            }
            for plan in planned {
                try plan.block.withUnsafeBytes { try writer.write($0, at: 0, into: plan.run) }
                if writes[plan.index].response != nil {
                    try writes[plan.index].body.write(with: writer, at: Int64(plan.block.count), into: plan.run)
                }
            }
        } catch {
            for plan in planned { writer.releaseChunks(plan.run) }
            for plan in planned { self.refused(Refusal(failure: .io, message: "\(error)"), digest: writes[plan.index].digest) }
            self.publish(changes)
            return end
        }
        var staged: [(plan: Planned, entry: Entry, retained: Range<Int64>, old: Entry?)] = []
        for plan in planned {
            let write = writes[plan.index]
            let length = Int64(plan.block.count + (write.response == nil ? 0 : write.body.count))
            // The policy may have chosen the object being replaced.
            let old = writer.entry(digest: plan.key)
            do {
                let (entry, retained) = try writer.stage(reserved: plan.run, length: length, options: plan.options, replacing: old)
                staged.append((plan, entry, retained, old))
            } catch {
                self.refused(Refusal(failure: error.code == .bucketFull ? .full : .io, message: "\(error)"), digest: write.digest)
            }
        }
        do { try writer.commit() } catch {
            // The table in memory no longer matches the file: reload both on the next write.
            writer.discardStaged()
            self.writer = nil
            for item in staged { self.refused(Refusal(failure: .io, message: "\(error)"), digest: writes[item.plan.index].digest) }
            self.publish(changes)
            return end
        }
        let mount = self.volumes.current
        var memory = mount.memoryBytes
        var fresh: [(key: [UInt8], slot: Int)] = []
        for item in staged {
            let write = writes[item.plan.index]
            if item.old != nil {
                let replacedInMemory = mount.objects.object(at: item.entry.slot)?.isInMemory ?? false
                let since = self.objects[item.plan.key]?.generation ?? 0
                self.untrack(item.plan.key, keepCounters: true)
                self.hold(item.retained, inMemory: replacedInMemory, since: since)
            }
            let kept = write.body.count <= self.volumes.configuration.smallObjectLimit ? write.body.bytes : nil
            let body = write.response == nil ? item.plan.block : kept
            let prepared = self.volumes.prepare(entry: item.entry, body: body, cached: item.plan.cached, memoryInUse: memory)
            memory += prepared.body?.readableBytes ?? 0
            self.track(
                item.plan.key, slot: item.entry.slot, bytes: item.entry.extent?.length ?? 0, counters: prepared.counters,
                url: write.response?.url, stamp: ObjectCounters.monotonicNow())
            changes.append((item.entry.slot, prepared))
            fresh.append((item.plan.key, item.entry.slot))
            self.metrics.stored()
        }
        let generation = self.publish(changes) ?? 0
        for (key, _) in fresh { self.objects[key]?.generation = generation }
        for item in staged {
            results[item.plan.index] = true
            for (index, write) in writes.enumerated() where index < item.plan.index && self.key(write.digest) == item.plan.key {
                results[index] = true
            }
        }
        self.reportHolding()
        return end
    }

    /// Rewrites the metadata of a stored response, keeping its body.
    func updateMetadata(digest: CacheDigest, response: StoredResponse) -> Bool {
        self.open()
        let key = self.key(digest)
        let mount = self.volumes.current
        guard let tracked = self.objects[key], let object = mount.objects.object(at: tracked.slot),
            object.entry.digest == key, let cached = object.cached
        else { return false }
        var updated = response
        updated.bodyLength = cached.response.bodyLength
        updated.url = cached.response.url
        updated.storedAt = cached.response.storedAt
        let block = CachedMetadata.encode(updated)
        guard Int64(block.count) == cached.headerArea else {
            // The new block needs another header area: rewrite the object with its body.
            let body: [UInt8]
            if let inMemory = object.body {
                body = Array(inMemory.readableBytesView)
            } else {
                guard let read = try? mount.volume.contents(of: object.entry), read.count >= Int(cached.headerArea) else { return false }
                body = Array(read[Int(cached.headerArea)...])
            }
            return self.write(digest: digest, response: updated, body: body, record: nil)
        }
        do {
            let writer = try self.lockWriter()
            defer { writer.unlock() }
            guard let entry = writer.entry(digest: key), entry.slot == tracked.slot else { return false }
            try writer.overwrite(entry, at: 0, with: block)
            let body = object.body.map { Array($0.readableBytesView) }
            let prepared = PreparedObject(
                entry: entry, body: body, serverName: self.volumes.configuration.serverName, counters: object.counters,
                cached: CachedMetadata(response: updated, headerArea: cached.headerArea))
            self.publish([(entry.slot, prepared)])
            return true
        } catch {
            self.refused(Refusal(failure: .io, message: "\(error)"), digest: digest)
            return false
        }
    }

    /// Removes cached objects by stored digest; the operator's objects are never touched.
    func remove(_ keys: [[UInt8]]) throws(MiniCacheError) -> Int {
        self.open()
        let present = keys.filter { self.objects[$0] != nil }
        guard !present.isEmpty else { return 0 }
        do {
            let writer = try self.lockWriter()
            defer { writer.unlock() }
            var changes: [(slot: Int, object: PreparedObject?)] = []
            for key in Set(present) {
                if let change = try self.evictNow(writer, key) { changes.append(change) }
            }
            try writer.sync()
            self.unsyncedRemovals = false
            self.publish(changes)
            self.metrics.removed(changes.count)
            self.reportHolding()
            return changes.count
        } catch {
            throw MiniCacheError(.volume, "cannot remove cached objects from \(self.volumes.path): \(error)", underlying: error)
        }
    }

    /// Removes the cached responses whose URL matches, and the objects under `extra`.
    func purge(matching matches: (String) -> Bool, extra: [[UInt8]]) throws(MiniCacheError) -> Int {
        self.open()
        var keys = extra
        for (url, digests) in self.byURL where matches(url) { keys.append(contentsOf: digests) }
        let count = try self.remove(keys)
        self.metrics.purged(count)
        return count
    }

    func urls(withPrefix prefix: String) -> [String] {
        self.open()
        return self.byURL.keys.filter { $0.hasPrefix(prefix) }.sorted()
    }

    func useEviction(_ kind: EvictionKind) {
        guard kind != self.configuration.eviction else { return }
        self.configuration.eviction = kind
        self.policy = kind.makePolicy()
        if self.loadedGeneration != nil { self.rebuildPolicy() }
    }

    func evictionOrder() -> [[UInt8]] {
        self.open()
        var copy = self.policy
        var seen: [[UInt8]: Int] = self.objects.mapValues { $0.seenHits }
        var order: [[UInt8]] = []
        while let key = copy.evict(observing: { key in
            guard let tracked = self.objects[key] else { return .unused }
            let hits = tracked.counters.hits.load(ordering: .relaxed)
            defer { seen[key] = hits }
            return ObservedUse(hits: hits - (seen[key] ?? 0), lastUse: tracked.counters.lastUse.load(ordering: .relaxed))
        }) {
            order.append(key)
        }
        return order
    }

    // MARK: Eviction

    /// Evicts until the bucket of `key` has a slot beyond the `slotsTaken` that earlier writes
    /// of the group will take (unless an object is replaced in its slot) and a free extent holds
    /// `bytes`. Adds the evictions not yet published to `changes`, also those made before it
    /// throws, which the mount must stop listing all the same.
    private func makeRoom(
        _ writer: VolumeWriter, key: [UInt8], bytes: Int64, replacing: Bool, slotsTaken: Int,
        into changes: inout [(slot: Int, object: PreparedObject?)]
    ) throws {
        var waitedUntil: ContinuousClock.Instant?
        var evictedBytes: Int64 = 0
        while true {
            self.releaseQuarantine(writer)
            if !replacing, writer.header.entriesPerBucket - writer.entries(inBucketOf: key).count <= slotsTaken {
                guard let victim = self.bucketVictim(writer, of: key) else {
                    throw Refusal(failure: .full, message: "its hash bucket is full of the operator's objects")
                }
                if let change = try self.evictNow(writer, victim) { changes.append(change) }
                self.metrics.evicted(.bucket)
                continue
            }
            if writer.hasFreeExtent(for: bytes) { return }
            if !self.quarantine.isEmpty {
                if !changes.isEmpty {
                    self.publish(changes)
                    changes = []
                    continue
                }
                let deadline = waitedUntil ?? ContinuousClock.now + self.configuration.quarantineWait
                waitedUntil = deadline
                if ContinuousClock.now < deadline {
                    usleep(2000)
                    continue
                }
                if evictedBytes > 4 * bytes + (1 << 20) {
                    throw Refusal(failure: .full, message: "the space of evicted objects is still used by responses in flight")
                }
            }
            guard let victim = self.policy.evict(observing: self.observe) else {
                throw Refusal(failure: .full, message: "no cached object is left to evict (the operator's objects fill the volume)")
            }
            evictedBytes += self.objects[victim]?.bytes ?? 0
            if let change = try self.evictNow(writer, victim) { changes.append(change) }
            self.metrics.evicted(.space)
        }
    }

    /// What the serving threads recorded about an object since the store last looked.
    private func observe(_ key: [UInt8]) -> ObservedUse {
        guard var tracked = self.objects[key] else { return .unused }
        let hits = tracked.counters.hits.load(ordering: .relaxed)
        let use = ObservedUse(hits: hits - tracked.seenHits, lastUse: tracked.counters.lastUse.load(ordering: .relaxed))
        tracked.seenHits = hits
        self.objects[key] = tracked
        return use
    }

    /// The cached object of the bucket of `key` used least recently; nil when the bucket holds
    /// only the operator's objects.
    private func bucketVictim(_ writer: VolumeWriter, of key: [UInt8]) -> [UInt8]? {
        writer.entries(inBucketOf: key)
            .compactMap { entry in self.objects[entry.digest].map { (entry.digest, $0.recency) } }
            .min { $0.1 < $1.1 }?.0
    }

    /// Removes a cached object from the volume now; its chunks are held back while a mount
    /// that lists it may stream them. Returns the change to publish.
    private func evictNow(_ writer: VolumeWriter, _ key: [UInt8]) throws -> (slot: Int, object: PreparedObject?)? {
        guard let tracked = self.objects[key], let entry = writer.entry(digest: key), entry.slot == tracked.slot else {
            self.untrack(key, keepCounters: false)
            return nil
        }
        let inMemory = self.volumes.current.objects.object(at: entry.slot)?.isInMemory ?? false
        let retained = try writer.remove(entry, retainingChunks: true, syncing: false)
        self.unsyncedRemovals = true
        self.untrack(key, keepCounters: false)
        self.hold(retained, inMemory: inMemory, since: tracked.generation)
        return (entry.slot, nil)
    }

    /// Holds back the chunks of an object mounts from generation `since` to the current one listed.
    /// - Parameter inMemory: the current mount keeps the object in memory.
    private func hold(_ chunks: Range<Int64>, inMemory: Bool, since: Int) {
        guard !chunks.isEmpty else { return }
        // Every mount that listed the object shares the store's prepared object when none of
        // them was a full mount, which prepares its own (a prefetch keeps in memory what older
        // mounts stream from the volume).
        let inMemoryEverywhere = inMemory && since > self.volumes.fullMountGeneration
        if inMemoryEverywhere {
            // Served from memory only: no response reads these chunks.
            self.writer?.releaseChunks(chunks)
        } else {
            self.quarantine.append((chunks, min(since, self.volumes.current.generation)...self.volumes.current.generation))
        }
    }

    /// Frees the held chunks no live mount can read any more. Responses copy the store's bodies
    /// (never `sendfile`, ``BodyStream/copies``), so once their mount is gone nothing reads them.
    private func releaseQuarantine(_ writer: VolumeWriter) {
        guard !self.quarantine.isEmpty else { return }
        let tracker = self.volumes.tracker
        self.quarantine.removeAll { held in
            guard !tracker.anyAlive(in: held.generations) else { return false }
            writer.releaseChunks(held.chunks)
            return true
        }
    }

    // MARK: Tracking

    private func track(_ key: [UInt8], slot: Int, bytes: Int64, counters: ObjectCounters, url: String?, stamp: Int64) {
        self.nextOrder += 1
        self.objects[key] = Tracked(
            slot: slot, bytes: bytes, counters: counters, seenHits: counters.hits.load(ordering: .relaxed), url: url,
            storedStamp: stamp, order: self.nextOrder)
        self.storedBytes += bytes
        if let url { self.byURL[url, default: []].insert(key) }
        self.policy.insert(key, size: UInt64(bytes), at: stamp)
    }

    private func untrack(_ key: [UInt8], keepCounters: Bool) {
        guard let tracked = self.objects.removeValue(forKey: key) else { return }
        self.storedBytes -= tracked.bytes
        if let url = tracked.url {
            self.byURL[url]?.remove(key)
            if self.byURL[url]?.isEmpty == true { self.byURL[url] = nil }
        }
        self.policy.remove(key)
        if !keepCounters { self.volumes.registry.forget(Hex.string(key)) }
    }

    private func reportHolding() {
        let chunkSize = Int64(self.writer?.header.chunkSize ?? 0)
        let held = self.quarantine.reduce(Int64(0)) { $0 + Int64($1.chunks.count) * chunkSize }
        self.metrics.holding(objects: self.objects.count, bytes: self.storedBytes, quarantined: held)
    }

    private func refused(_ refusal: Refusal, digest: CacheDigest) {
        self.metrics.failed(refusal.failure)
        self.reportHolding()
        self.logger.warning(
            "response served without being kept in the volume: \(refusal.message)",
            metadata: ["cache.digest": "\(digest)", "cache.refusal": "\(refusal.failure.rawValue)"]
        )
    }

    // MARK: Writer and mounts

    /// The writer, locked; opened (and the store's state loaded) on first use, and reloaded
    /// when another process changed the volume since the store's last write.
    private func lockWriter() throws -> VolumeWriter {
        if let writer = self.writer {
            try writer.lock()
            if MountedVolume.fingerprint(self.volumes.path) == self.fingerprint { return writer }
            writer.unlock()
            self.writer = nil
            self.logger.info("volume changed by another writer; reloading the cache store", metadata: ["volume.path": "\(self.volumes.path)"])
            try self.volumes.remount(reason: "volume changed by another writer")
        }
        let writer = try VolumeWriter(path: self.volumes.path, waitForLock: true)
        self.writer = writer
        self.fingerprint = MountedVolume.fingerprint(self.volumes.path)
        for held in self.quarantine where !writer.reserveChunks(held.chunks) {
            self.logger.debug("held chunks were taken by another writer", metadata: ["chunks": "\(held.chunks)"])
        }
        self.load(writer)
        return writer
    }

    /// Rebuilds what the store knows from the writer's table (which shows what other writers
    /// did), and removes the responses the cache was writing when it stopped.
    private func load(_ writer: VolumeWriter) {
        let mount = self.volumes.current
        let torn = self.load(
            writer.entries.lazy.map { entry in
                let object = mount.objects.object(at: entry.slot)
                return (entry, object?.entry.digest == entry.digest ? object : nil)
            },
            in: mount)
        var changes: [(slot: Int, object: PreparedObject?)] = []
        for entry in torn where (try? writer.remove(entry)) != nil {
            changes.append((entry.slot, nil))
        }
        if !changes.isEmpty {
            self.logger.notice("dropped cached objects that fail their checks", metadata: ["count": "\(changes.count)"])
            self.publish(changes)
        }
        self.reportHolding()
    }

    /// Rebuilds what the store knows from `entries` (with the mount's object of each, if it has
    /// it): the cached objects (responses whose metadata checks out and Vary records), their URLs,
    /// and the eviction order by store time.
    /// - Returns: the responses that fail their checks (cut short by a stop, or damaged).
    @discardableResult
    private func load(_ entries: some Sequence<(Entry, PreparedObject?)>, in mount: Mount) -> [Entry] {
        self.objects = [:]
        self.byURL = [:]
        self.storedBytes = 0
        var records: [EvictionRecord<[UInt8]>] = []
        var torn: [Entry] = []
        for (entry, object) in entries where entry.isHidden && !entry.isDefault && entry.name.isEmpty {
            guard let extent = entry.extent else { continue }
            let cached = object?.cached ?? (object == nil ? Mount.cachedMetadata(entry, in: mount.volume) : nil)
            var isRecord = false
            if cached == nil {
                let prefix = Self.prefix(of: entry, in: mount.volume)
                if CachedMetadata.blockLength(prefix) != nil {
                    // A response the cache was writing when it stopped, or one that fails its checks.
                    torn.append(entry)
                    continue
                }
                guard extent.length <= 1 << 20, let bytes = object?.body ?? (try? mount.volume.contents(of: entry)).map({ ByteBuffer(bytes: $0) }),
                    VaryIndex.kind(of: bytes) == .varyIndex
                else { continue }
                isRecord = true
            }
            let counters = object?.counters ?? self.volumes.registry.counters(for: entry.hexDigest)
            let url = isRecord ? nil : cached?.response.url
            self.objects[entry.digest] = Tracked(
                slot: entry.slot, bytes: extent.length, counters: counters, seenHits: counters.hits.load(ordering: .relaxed), url: url)
            self.storedBytes += extent.length
            if let url { self.byURL[url, default: []].insert(entry.digest) }
            let storedAt = cached?.response.storedAt ?? 0
            records.append(EvictionRecord(key: entry.digest, size: UInt64(extent.length), lastUse: storedAt > 0 ? storedAt : entry.creationTime * 1_000_000_000))
        }
        // Nothing stored (a fresh volume): the policy is empty, no rebuild (whose generic sorting
        // costs a static executable conformance lookups at its first use).
        if records.isEmpty {
            self.policy = self.configuration.eviction.makePolicy()
        } else {
            self.rebuildPolicy(records)
        }
        let ordered = records.enumerated().sorted { a, b in
            a.element.lastUse != b.element.lastUse ? a.element.lastUse < b.element.lastUse : a.offset < b.offset
        }
        self.nextOrder = 0
        for (_, record) in ordered {
            self.nextOrder += 1
            self.objects[record.key]?.order = self.nextOrder
        }
        self.loadedGeneration = mount.generation
        return torn
    }

    /// The first bytes of an object (up to 16).
    private static func prefix(of entry: Entry, in volume: Volume) -> [UInt8] {
        guard let extent = entry.extent else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(min(16, extent.length)))
        let count = bytes.count
        let n = bytes.withUnsafeMutableBytes { pread(volume.fileDescriptor.rawValue, $0.baseAddress, count, off_t(extent.byteOffset)) }
        return n == count ? bytes : []
    }

    /// Rebuilds the policy from `records`, or from the tracked objects in store order.
    private func rebuildPolicy(_ records: [EvictionRecord<[UInt8]>]? = nil) {
        let records = records ?? self.objects.map { EvictionRecord(key: $0.key, size: UInt64($0.value.bytes), lastUse: Int64($0.value.order)) }
        self.policy = self.configuration.eviction.makePolicy()
        self.policy.rebuild(from: records)
    }

    private func dataAreaBytes(_ writer: VolumeWriter) -> Int64 {
        (writer.header.sizeInChunks - writer.header.dataStartChunk) * Int64(writer.header.chunkSize)
    }

    /// Publishes committed changes as a new mount (the store holds the writer lock, so the file
    /// is as the store left it).
    /// - Returns: the generation of the new mount.
    @discardableResult
    private func publish(_ changes: [(slot: Int, object: PreparedObject?)]) -> Int? {
        guard !changes.isEmpty else { return nil }
        let after = MountedVolume.fingerprint(self.volumes.path)
        let mount = self.volumes.publish(changes: changes, before: self.fingerprint, after: after)
        self.fingerprint = after
        return mount.generation
    }
}
