import Foundation
import SHFS
import Testing

/// Damaged volumes are refused at open with a message that says what is wrong and where.
struct CorruptVolumeTests {
    /// A good volume with two objects; returns its path, the header and the entries.
    func volume(_ dir: TemporaryDirectory) throws -> (String, VolumeHeader, [Entry]) {
        let path = try makeVolume(dir)
        let w = try VolumeWriter(path: path)
        let a = try w.add(bytes: bytes(5000, seed: 1), options: ObjectOptions(name: "a"))
        let b = try w.add(bytes: bytes(9000, seed: 2), options: ObjectOptions(name: "b"))
        return (path, try Volume(path: path).header, [a, b])
    }

    func expectRefused(_ path: String, _ code: SHFSError.Code, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectSHFSError(code, containing: fragment, sourceLocation: sourceLocation) { _ = try Volume(path: path) }
        expectSHFSError(code, containing: fragment, sourceLocation: sourceLocation) { _ = try VolumeWriter(path: path, waitForLock: false) }
    }

    @Test func truncatedVolume() throws {
        let dir = try TemporaryDirectory()
        let (path, _, _) = try volume(dir)
        #expect(truncate(path, 512 << 10) == 0)
        expectRefused(path, .corruptVolume, "truncated volume: the header says 255 chunks of 4096 bytes (1044480 bytes) but the file has 524288 bytes")
        #expect(truncate(path, 600) == 0)
        expectRefused(path, .notAVolume, "too short")
    }

    @Test func badMagic() throws {
        let dir = try TemporaryDirectory()
        let (path, _, _) = try volume(dir)
        try patch(path, at: 1024, Array("SHFX".utf8))
        expectRefused(path, .notAVolume, "no 'SHFS' magic at byte 1024")
        let plain = try dir.write("plain.txt", Array(repeating: 65, count: 10_000))
        expectRefused(plain, .notAVolume, "not an SHFS volume")
    }

    @Test func wrongVersion() throws {
        let dir = try TemporaryDirectory()
        let (path, _, _) = try volume(dir)
        try patch(path, at: 1028, [1, 2])
        expectRefused(path, .unsupportedVolume, "unsupported SHFS version 1.02 at byte 1028; only 2.01")
    }

    @Test func bigEndian() throws {
        let dir = try TemporaryDirectory()
        let (path, _, _) = try volume(dir)
        try patch(path, at: 1062, [1])
        expectRefused(path, .unsupportedVolume, "big-endian volume (byte order 1 at byte 1062)")
        try patch(path, at: 1062, [7])
        expectRefused(path, .corruptVolume, "invalid byte order 7 at byte 1062")
    }

    @Test func badGeometry() throws {
        let dir = try TemporaryDirectory()
        let (path, _, _) = try volume(dir)
        try patch(path, at: 1024 + 77, [0])
        expectRefused(path, .corruptVolume, "invalid member count 0 at byte 1101")
        try patch(path, at: 1024 + 77, [3])
        expectRefused(path, .unsupportedVolume, "striped volume of 3 members")
        try patch(path, at: 1024 + 77, [1])
        try patch(path, at: 1024 + 57, [0x88, 0x13, 0, 0])
        expectRefused(path, .corruptVolume, "invalid stripe size 5000 at byte 1081")
        try patch(path, at: 1024 + 57, [0, 0x10, 0, 0])
        try patch(path, at: 4096, le64(250))
        expectRefused(path, .corruptVolume, "hash table at chunk 250")
        try patch(path, at: 4096, le64(2))
        try patch(path, at: 4096 + 17, [0])
        expectRefused(path, .corruptVolume, "unsupported digest length 0")
    }

    @Test func extentOutOfRange() throws {
        let dir = try TemporaryDirectory()
        let (path, h, entries) = try volume(dir)
        let e = Int(h.entryByteOffset(slot: entries[1].slot))
        try patch(path, at: e + 64, le64(300))
        expectRefused(path, .corruptVolume, "entry in slot \(entries[1].slot) ('b'): extent starts at chunk 300, outside the data area (chunks \(h.dataStartChunk)..<255)")
        try patch(path, at: e + 64, le64(1))
        expectRefused(path, .corruptVolume, "extent starts at chunk 1, outside the data area")
        try patch(path, at: e + 64, le64(254))
        expectRefused(path, .corruptVolume, "extent of 9000 bytes at chunk 254 + 0 ends past the end of the volume (255 chunks of 4096 bytes)")
        try patch(path, at: e + 64, le64(100))
        try patch(path, at: e + 80, le64(UInt64.max))
        expectRefused(path, .corruptVolume, "ends past the end of the volume")
    }

    @Test func overlappingExtents() throws {
        let dir = try TemporaryDirectory()
        let (path, h, entries) = try volume(dir)
        let aChunk = UInt64(entries[0].extent!.byteOffset / 4096)
        try patch(path, at: Int(h.entryByteOffset(slot: entries[1].slot)) + 64, le64(aChunk + 1))
        let first = entries.min { $0.slot < $1.slot }!
        let fragment = "overlaps the extent of slot"
        expectRefused(path, .corruptVolume, fragment)
        expectSHFSError(.corruptVolume, containing: "run `shfs fsck \(path)`") { _ = try Volume(path: path) }
        _ = first
    }

    @Test func extentsInsideChunksAreCheckedByteForByte() throws {
        let dir = try TemporaryDirectory()
        let (path, h, entries) = try volume(dir)
        // a: 5000 bytes from chunk A (ends 904 bytes into chunk A + 1). Put b (9000 bytes) at
        // chunk A + 1, byte 1000: it shares a chunk with a without overlapping it.
        let aChunk = UInt64(entries[0].extent!.byteOffset / 4096)
        let b = Int(h.entryByteOffset(slot: entries[1].slot))
        try patch(path, at: b + 64, le64(aChunk + 1))
        // At byte 800 of that chunk it overlaps the end of a.
        try patch(path, at: b + 72, le64(800))
        expectRefused(path, .corruptVolume, "overlaps the extent of slot \(entries[0].slot) ('a')")
        try patch(path, at: b + 72, le64(1000))
        let v = try Volume(path: path)
        #expect(v.entry(name: "b")?.extent?.byteOffset == Int64(aChunk + 1) * 4096 + 1000)
        do {
            // Removing a must not free the chunk it shares with b: new objects never land on b.
            let bContent = try v.contents(of: #require(v.entry(name: "b")))
            let w = try VolumeWriter(path: path)
            try w.remove(try w.requireEntry("a"))
            for i in 0..<4 { try w.add(bytes: bytes(4096, seed: UInt64(50 + i)), options: ObjectOptions(name: "n\(i)")) }
            let after = try Volume(path: path)
            #expect(same(try after.contents(of: #require(after.entry(name: "b"))), bContent))
            #expect(try VolumeCheck.run(path: path).problems.isEmpty)
        }
    }

    @Test func digestInTheWrongBucketAndDuplicates() throws {
        let dir = try TemporaryDirectory()
        let (path, h, entries) = try volume(dir)
        let slot = entries[0].slot
        let e = Int(h.entryByteOffset(slot: slot))
        let wrong = UInt8((Int(entries[0].digest[0]) + 1) % 256)
        try patch(path, at: e, [wrong])
        expectRefused(path, .corruptVolume, "entry in slot \(slot) ('a'): digest")
        expectRefused(path, .corruptVolume, "not bucket \(slot / h.entriesPerBucket)")
        try patch(path, at: e, [entries[0].digest[0]])
        // Copy entry a into the next slot of its bucket: a duplicate digest (and an overlap).
        let raw = Array(try readBytes(path)[e..<(e + 256)])
        let next = slot + 1
        #expect(next / h.entriesPerBucket == slot / h.entriesPerBucket)
        try patch(path, at: Int(h.entryByteOffset(slot: next)), raw)
        expectRefused(path, .corruptVolume, "duplicate of the digest in slot \(slot)")
    }
}
