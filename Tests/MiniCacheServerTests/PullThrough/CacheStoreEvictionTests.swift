import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOPosix
import SHFS
import Testing

@testable import MiniCacheServer

/// Eviction when the volume or a bucket is full, on real volumes.
struct CacheStoreEvictionTests {
    typealias F = CacheStoreFixture

    static func digest(_ mount: Mount, _ url: String) -> [UInt8] {
        Array(F.digest(url).bytes.prefix(mount.volume.header.digestLength))
    }

    @Test("a full volume behind a real server keeps serving, evicts the least recently hit first (LRU), never the operator's objects")
    func lruOverRealServer() async throws {
        let origin = try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { request, _ in
            let path = request.path
            return [.send(TestOrigin.response(body: CacheStoreCrashTests.body(path), headers: ["Cache-Control: max-age=3600"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let operatorContent = TestVolume.bytes(600_000, seed: 1)
        try volume.add("operator.bin", operatorContent)
        try volume.add("hidden-operator", TestVolume.bytes(200_000, seed: 2), hidden: true)
        // Sizes from CacheStoreCrashTests.body: /e/1 ... /e/8 take 39 KB to 298 KB each.
        let paths = (1...8).map { "/e/\($0)" }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let store = server.server.context.cache!.store
            for path in paths {
                #expect(try await TestConnection.get(port: server.port, path).text == CacheStoreCrashTests.body(path))
            }
            try await PullThroughTests.waitForStored(server, paths.count)
            try await Task.sleep(for: .milliseconds(2))
            for path in ["/e/1", "/e/3"] {
                #expect(try await TestConnection.get(port: server.port, path).text == CacheStoreCrashTests.body(path))
                try await Task.sleep(for: .milliseconds(2))
            }
            let cache = server.server.context.cache!
            let expected = ["/e/2", "/e/4", "/e/5", "/e/6", "/e/7", "/e/8", "/e/1", "/e/3"].map {
                store.storedDigest(cache.key(target: $0).key.primaryDigest)
            }
            #expect(store.evictionOrder() == expected)

            // Fill well past the volume's size: every response is still complete.
            for i in 9...40 {
                let path = "/e/\(i)"
                #expect(try await TestConnection.get(port: server.port, path).text == CacheStoreCrashTests.body(path))
            }
            try await PullThroughTests.waitForStored(server, 40)
            #expect(store.statistics.evicted > 0)
            let now = server.server.context.volumes.current
            let gone = expected.map { now.byDigest.lookup(Array(Hex.string($0).utf8)) == nil }
            // What is gone is a prefix of the LRU order: /e/2 went first, /e/1 and /e/3 last.
            #expect(gone.first == true)
            #expect(gone == gone.sorted { $0 && !$1 }, "evicted out of LRU order: \(gone)")
            #expect(try await TestConnection.get(port: server.port, "/operator.bin").body == operatorContent)
            #expect(now.objects.contains { $0.entry.name == "hidden-operator" || ($0.entry.isHidden && $0.length == 200_000) })
        }
        await origin.stop()
    }

    @Test("the eviction order is rebuilt from the store times after a restart", arguments: EvictionKind.allCases)
    func orderSurvivesRestart(kind: EvictionKind) async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        let fixture = try F(volume: volume, configuration: CacheStoreConfiguration(eviction: kind))
        for i in 0..<12 { #expect(await fixture.put("/r/\(i)", size: 1000 + i * 100)) }
        let before = fixture.store.evictionOrder()
        #expect(before.count == 12)
        await fixture.stop()
        let restarted = try F(volume: volume, configuration: CacheStoreConfiguration(eviction: kind))
        #expect(restarted.store.evictionOrder() == before)
        if kind != .s3fifo {
            #expect(before == (0..<12).map { Self.digest(fixture.holder.current, "/r/\($0)") })
        }
        await restarted.stop()
    }

    @Test("SIEVE through the store: hit objects survive the hand, the first unvisited goes")
    func sieveUsesHitCounters() async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        let fixture = try F(volume: volume, configuration: CacheStoreConfiguration(eviction: .sieve))
        for i in 1...5 { #expect(await fixture.put("/s/\(i)", size: 500)) }
        fixture.object("/s/1")!.counters.recordWhole(bytes: 500)
        fixture.object("/s/3")!.counters.recordWhole(bytes: 500)
        let order = fixture.store.evictionOrder()
        #expect(order.first == Self.digest(fixture.holder.current, "/s/2"))
        #expect(order.suffix(2) == ["/s/1", "/s/3"].map { Self.digest(fixture.holder.current, $0) })
        await fixture.stop()
    }

    @Test("a full hash bucket evicts a cached object of that bucket, never the operator's")
    func fullBucketEvicts() async throws {
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        let fixture = try F(volume: volume)
        let header = fixture.holder.current.volume.header
        // URLs whose digests fall into bucket 0.
        var urls: [String] = []
        var i = 0
        while urls.count < header.entriesPerBucket + 3 {
            let url = "/b/\(i)"
            if F.digest(url).bytes.withUnsafeBytes({ VolumeWriter.bucket(ofDigest: $0, bucketCount: header.bucketCount) }) == 0 {
                urls.append(url)
            }
            i += 1
        }
        for url in urls { #expect(await fixture.put(url, size: 700)) }
        let kept = urls.filter { fixture.object($0) != nil }
        #expect(kept.count == header.entriesPerBucket)
        #expect(kept == Array(urls.suffix(header.entriesPerBucket)))
        #expect(fixture.store.metrics.snapshot.evictions[.bucket] == 3)
        await fixture.stop()
    }
}
