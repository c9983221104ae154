import Foundation
import MiniCacheTesting
import SHFS
import Testing

/// Readers keep working while another process writes: snapshots opened during a running import
/// are always valid and their objects always read back intact.
struct ConcurrentReaderTests {
    @Test func readerKeepsReadingWhileAnImportRuns() async throws {
        let dir = try TemporaryDirectory()
        let vol = dir.file("r.shfs")
        try Volume.format(path: vol, options: FormatOptions(size: 64 << 20, chunkSize: 4096, bucketCount: 1024, entriesPerBucket: 16))
        do {
            let w = try VolumeWriter(path: vol)
            try w.add(bytes: bytes(50_000, seed: 7), options: ObjectOptions(name: "before"))
        }
        let fileCount = 200
        for f in 0..<fileCount { try dir.write("tree/f\(f).bin", bytes(20_000 + f * 100, seed: UInt64(f + 1))) }
        let old = try Volume(path: vol)

        let p = try Tool.start(["import", vol, dir.file("tree"), "--quiet", "--batch-size", "64K"])
        var snapshots = 0
        var objectsRead = 0
        var sawPartial = false
        while true {
            let running = p.isRunning
            let v = try Volume(path: vol)
            snapshots += 1
            let n = v.entries.count - 1
            if n > 0, n < fileCount { sawPartial = true }
            for e in v.entries {
                #expect(sha256(try v.contents(of: e)) == e.digest)
                objectsRead += 1
            }
            #expect(same(try old.contents(of: #require(old.entry(name: "before"))), bytes(50_000, seed: 7)))
            if !running { break }
        }
        #expect(await p.exited() == 0)
        let final = try Volume(path: vol)
        #expect(final.entries.count == fileCount + 1)
        #expect(snapshots > 1)
        #expect(sawPartial, "no snapshot caught the import half-way (\(snapshots) snapshots)")
        #expect(objectsRead > fileCount)
    }

    @Test func threadReadsThroughItsOwnVolumeWhileThisThreadWrites() async throws {
        let dir = try TemporaryDirectory()
        let vol = try makeVolume(dir, size: 16 << 20, buckets: 256, perBucket: 8)
        let w = try VolumeWriter(path: vol)
        try w.add(bytes: bytes(10_000, seed: 1), options: ObjectOptions(name: "first"))
        let reader = Task.detached { () throws -> Int in
            var reads = 0
            for _ in 0..<200 {
                let v = try Volume(path: vol)
                for e in v.entries where sha256(try v.contents(of: e)) == e.digest { reads += 1 }
            }
            return reads
        }
        for i in 0..<100 { try w.add(bytes: bytes(3000 + i, seed: UInt64(100 + i)), options: ObjectOptions(name: "n\(i)")) }
        let reads = try await reader.value
        #expect(reads >= 200)
        #expect(try Volume(path: vol).entries.count == 101)
    }
}
