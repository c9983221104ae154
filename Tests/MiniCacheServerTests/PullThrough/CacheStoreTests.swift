import Foundation
import Logging
import NIOHTTP1
import Prometheus
import SHFS
import Synchronization
import Testing

@testable import MiniCacheServer

/// The cache store on real volume files: incremental mounts, external writers, chunks held for
/// responses in flight.
struct CacheStoreTests {
    typealias F = CacheStoreFixture

    @Test("a fill publishes a mount derived from the last one: no remount, unchanged objects shared")
    func fillsAreIncremental() async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        try volume.add("operator.bin", TestVolume.bytes(5000))
        let fixture = try F(volume: volume)
        for i in 0..<20 { #expect(await fixture.put("/seg\(i).ts", size: 1000 + i * 7000)) }
        let before = fixture.holder.current
        let previous = (0..<20).map { fixture.object("/seg\($0).ts") }
        #expect(await fixture.put("/new.ts", size: 3000))
        let after = fixture.holder.current
        #expect(after.generation > before.generation)
        for (i, object) in previous.enumerated() {
            let now = try #require(fixture.object("/seg\(i).ts"))
            #expect(now === object, "object \(i) was prepared again")
            #expect(fixture.servedBody("/seg\(i).ts") == F.body("/seg\(i).ts", size: 1000 + i * 7000))
        }
        #expect(fixture.servedBody("/new.ts") == F.body("/new.ts", size: 3000))
        #expect(after.objects.count == 22)
        #expect(after.byName.lookup(Array("operator.bin".utf8)) != nil)
        #expect(fixture.stats.remounts.load(ordering: .relaxed) == 0)
        #expect(fixture.store.statistics.stored == 21)
        // Replaced mounts are released (only those still in use stay alive).
        #expect(fixture.holder.tracker.liveGenerations.count <= 3, "live mounts: \(fixture.holder.tracker.liveGenerations)")
        await fixture.stop()

        // A fresh mount of the file sees the same objects with their metadata.
        let reopened = try F(volume: volume)
        for i in 0..<20 { #expect(reopened.servedBody("/seg\(i).ts") == F.body("/seg\(i).ts", size: 1000 + i * 7000)) }
        #expect(reopened.object("/new.ts")?.cached?.response.url == "/new.ts")
        await reopened.stop()
    }

    @Test("an object added or removed by another writer is picked up, and the store goes on writing")
    func externalWriterIsPickedUp() async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        #expect(await fixture.put("/a", size: 2000))
        let entry = try volume.add("outside.bin", TestVolume.bytes(3000, seed: 9))
        fixture.holder.checkForChanges()
        #expect(fixture.holder.current.byName.lookup(Array("outside.bin".utf8)) != nil)
        #expect(await fixture.put("/b", size: 2000))
        let mount = fixture.holder.current
        #expect(mount.byName.lookup(Array("outside.bin".utf8)) != nil)
        #expect(fixture.servedBody("/a") == F.body("/a", size: 2000))
        #expect(fixture.servedBody("/b") == F.body("/b", size: 2000))
        try VolumeWriter(path: volume.path).remove(entry)
        #expect(await fixture.put("/c", size: 2000))
        #expect(fixture.holder.current.byName.lookup(Array("outside.bin".utf8)) == nil)
        #expect(fixture.servedBody("/c") == F.body("/c", size: 2000))
        await fixture.stop()
        #expect(try Volume(path: volume.path).entries.count == 3)
    }

    @Test("the chunks of an evicted object keep their bytes while a mount that listed it is alive")
    func evictedChunksWaitForResponsesInFlight() async throws {
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let fixture = try F(volume: volume, configuration: CacheStoreConfiguration(quarantineWait: .milliseconds(5)))
        let size = 300_000
        #expect(await fixture.put("/first", size: size))
        let object = try #require(fixture.object("/first"))
        #expect(!object.isInMemory)
        var held: Mount? = fixture.holder.current
        for i in 0..<30 { await fixture.put("/fill\(i)", size: size) }
        #expect(fixture.object("/first") == nil, "the oldest object was not evicted")
        #expect(fixture.store.statistics.evicted > 0)
        #expect(fixture.store.metrics.snapshot.quarantinedBytes > 0)
        // A response in flight on the old mount still reads the evicted object's bytes.
        #expect(F.read(held!, offset: object.fileOffset, length: size) == F.body("/first", size: size))
        held = nil
        #expect(await fixture.put("/after", size: size))
        #expect(fixture.servedBody("/after") == F.body("/after", size: size))
        #expect(fixture.store.metrics.snapshot.quarantinedBytes == 0)
        await fixture.stop()
    }

    @Test("RFC 9111 §4.3.4: a metadata update after a 304 rewrites the block in place (or the object when it grows), keeps the body")
    func metadataUpdate() async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        #expect(await fixture.put("/u", size: 100_000))
        let before = try #require(fixture.object("/u"))
        func update(_ headers: HTTPHeaders) async -> Bool {
            var response = StoredResponse(
                requestHeaders: [:], response: HTTPResponseHead(version: .http1_1, status: .ok, headers: headers),
                requestTime: 2_000_000_000, responseTime: 2_000_000_001)
            response.bodyLength = 100_000
            return await withCheckedContinuation { continuation in
                fixture.store.updateMetadata(digest: F.digest("/u"), response: response) { continuation.resume(returning: $0) }
            }
        }
        #expect(await update(["Cache-Control": "max-age=60", "ETag": "\"v2\""]))
        let inPlace = try #require(fixture.object("/u"))
        #expect(inPlace.entry == before.entry)
        #expect(inPlace.cached?.response.entityTag == "\"v2\"")
        #expect(inPlace.cached?.response.url == "/u")
        #expect(fixture.servedBody("/u") == F.body("/u", size: 100_000))
        // Headers that need a larger header area: the object is written again.
        #expect(await update(["Cache-Control": "max-age=60", "X-Long": String(repeating: "x", count: 6000)]))
        let rewritten = try #require(fixture.object("/u"))
        #expect(rewritten.entry.slot == before.entry.slot)
        #expect(rewritten.cached?.headerArea == 8192)
        #expect(fixture.servedBody("/u") == F.body("/u", size: 100_000))
        await fixture.stop()
        let reopened = try F(volume: volume)
        #expect(reopened.object("/u")?.cached?.response.headers.first(name: "x-long")?.count == 6000)
        #expect(reopened.servedBody("/u") == F.body("/u", size: 100_000))
        await reopened.stop()
    }

    @Test("metrics: stored objects and bytes, evictions by reason, failures by reason, purges")
    func metrics() async throws {
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        for i in 0..<20 { #expect(await fixture.put("/m/\(i)", size: 200_000)) }
        #expect(await fixture.put("/m/huge", size: 3 << 20) == false)
        let purged = try fixture.store.purge(url: "/m/19")
        #expect(purged == 1)
        let snapshot = fixture.store.metrics.snapshot
        let text = fixture.prometheus.emitToString()
        #expect(text.contains("minicache_cache_stored_total 20"))
        #expect(text.contains("minicache_cache_evictions_total{reason=\"space\"} \(snapshot.evictions[.space]!)"))
        #expect(snapshot.evictions[.space]! > 0)
        #expect(text.contains("minicache_cache_store_failures_total{reason=\"too_large\"} 1"))
        #expect(text.contains("minicache_cache_purged_total 1"))
        #expect(text.contains("minicache_cache_objects \(snapshot.objects)"))
        #expect(snapshot.objects == fixture.holder.current.objects.count)
        #expect(snapshot.bytes == Int64(snapshot.objects) * Int64(200_000 + 4096))
        await fixture.stop()
    }

    @Test("an object larger than a quarter of the volume is refused; a store after shutdown is refused")
    func refusals() async throws {
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        #expect(await fixture.put("/huge", size: 2 << 20) == false)
        #expect(fixture.store.metrics.snapshot.failures[.tooLarge] == 1)
        await fixture.stop()
        #expect(await fixture.put("/late", size: 10) == false)
    }

    @Test("fills that arrive together are committed together: one mount per group, all readable, also after a restart")
    func groupCommit() async throws {
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        let before = fixture.holder.current.generation
        let urls = (0..<40).map { "/group/seg\($0).ts" }
        let stored = await withTaskGroup(of: Bool.self) { group in
            for url in urls {
                let body = F.body(url, size: 20_000)
                let digest = F.digest(url)
                let store = fixture.store
                group.addTask {
                    await withCheckedContinuation { continuation in
                        store.store(digest: digest, response: F.response(size: 20_000), url: url, body: body) { continuation.resume(returning: $0) }
                    }
                }
            }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(stored == urls.count)
        // Fewer mounts than fills: the writes queued behind the first were committed in groups.
        let generations = fixture.holder.current.generation - before
        #expect(generations >= 1 && generations < urls.count, "\(generations) mounts for \(urls.count) fills")
        for url in urls { #expect(fixture.servedBody(url) == F.body(url, size: 20_000)) }
        await fixture.stop()
        let reopened = try F(volume: volume)
        for url in urls { #expect(reopened.servedBody(url) == F.body(url, size: 20_000)) }
        await reopened.stop()
    }

    @Test("fills committed together into a full hash bucket each evict an object for their slot: none is refused")
    func groupCommitIntoFullBucket() async throws {
        // One bucket of 8 entries: every object shares it.
        let volume = try TestVolume(sizeMiB: 16, bucketCount: 1)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        for i in 0..<8 { #expect(await fixture.put("/old/\(i)", size: 1000)) }
        // Enqueued back to back from one thread: the store thread commits them in groups.
        let urls = (0..<6).map { "/new/\($0)" }
        let results: [Bool] = await withCheckedContinuation { continuation in
            let collected = Mutex<[Bool]>([])
            for url in urls {
                fixture.store.store(digest: F.digest(url), response: F.response(size: 1000), url: url, body: F.body(url, size: 1000)) { stored in
                    let all = collected.withLock { results -> [Bool]? in
                        results.append(stored)
                        return results.count == urls.count ? results : nil
                    }
                    if let all { continuation.resume(returning: all) }
                }
            }
        }
        #expect(results == Array(repeating: true, count: urls.count))
        let snapshot = fixture.store.metrics.snapshot
        #expect(snapshot.failures.isEmpty, "\(snapshot.failures)")
        #expect(snapshot.evictions[.bucket] == urls.count)
        for url in urls { #expect(fixture.servedBody(url) == F.body(url, size: 1000)) }
        await fixture.stop()
    }

    @Test("a group of writes larger than the volume stores each in turn, the later evicting the earlier, as one at a time would")
    func groupLargerThanVolume() async throws {
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try volume.add("operator.bin", TestVolume.bytes(600_000, seed: 1))
        let fixture = try F(volume: volume)
        // Cached before: small objects served from memory, evicted first.
        for i in 0..<8 { #expect(await fixture.put("/small/\(i)", size: 40_000)) }
        // The store thread is the only caller of `write`; calling it here makes the group exactly
        // these writes (a busy thread finds such a group queued: 31 fills were seen in one).
        var logger = Logger(label: "cache-store-test")
        logger.logLevel = .error
        let state = CacheStoreState(volumes: fixture.holder, configuration: CacheStoreConfiguration(), metrics: fixture.store.metrics, logger: logger)
        state.open()
        // 30 x 200 kB (well above the smallest object kept in memory) is 6 MB for a 4 MiB volume.
        let urls = (0..<30).map { "/big/\($0)" }
        let writes = urls.map { url in
            var response = F.response(size: 200_000)
            response.url = url
            return CacheStoreState.Write(digest: F.digest(url), response: response, body: StoredBody(F.body(url, size: 200_000)), record: nil)
        }
        let results = state.write(writes)
        #expect(results == Array(repeating: true, count: urls.count))
        let snapshot = fixture.store.metrics.snapshot
        #expect(snapshot.failures.isEmpty, "\(snapshot.failures)")
        // The newest are kept, as when the writes come one by one; the oldest made room for them.
        #expect((0..<8).allSatisfy { fixture.object("/small/\($0)") == nil })
        let kept = urls.map { fixture.object($0) != nil }
        #expect(kept.last == true)
        #expect(kept.first == false)
        #expect(kept == kept.sorted { !$0 && $1 }, "kept out of store order: \(kept)")
        for url in urls where fixture.object(url) != nil {
            #expect(fixture.servedBody(url) == F.body(url, size: 200_000), "\(url)")
        }
        // What the mount lists is what the volume holds: a fresh mount lists the same objects.
        let listed = Set(fixture.holder.current.objects.map(\.entry.digest))
        state.close()
        await fixture.stop()
        let reopened = try F(volume: volume)
        #expect(Set(reopened.holder.current.objects.map(\.entry.digest)) == listed)
        for url in urls where reopened.object(url) != nil {
            #expect(reopened.servedBody(url) == F.body(url, size: 200_000), "\(url)")
        }
        await reopened.stop()
    }

    @Test("a queue longer than maxQueuedBytes refuses further fills as busy instead of holding them")
    func busyQueueRefuses() async throws {
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let fixture = try F(volume: volume, configuration: CacheStoreConfiguration(maxQueuedBytes: 100_000))
        // Enqueued back to back from one thread, while the store thread commits the first group.
        let results: [Bool] = await withCheckedContinuation { continuation in
            let collected = Mutex<[Bool]>([])
            for i in 0..<20 {
                let url = "/busy/\(i)"
                fixture.store.store(digest: F.digest(url), response: F.response(size: 30_000), url: url, body: F.body(url, size: 30_000)) { stored in
                    let all = collected.withLock { results -> [Bool]? in
                        results.append(stored)
                        return results.count == 20 ? results : nil
                    }
                    if let all { continuation.resume(returning: all) }
                }
            }
        }
        let refused = results.filter { !$0 }.count
        #expect(refused > 0)
        #expect(fixture.store.metrics.snapshot.failures[.busy] == refused)
        #expect(results.filter { $0 }.count + refused == 20)
        await fixture.stop()
    }
}
