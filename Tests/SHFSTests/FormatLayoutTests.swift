import Foundation
import SHFS
import Testing

/// Checks every field offset of SHFS-FORMAT.md both ways, with offsets written out here as literal
/// numbers from the document (not taken from the implementation).
struct FormatLayoutTests {
    /// Little-endian store into a byte array.
    static func put<T: FixedWidthInteger>(_ v: T, _ bytes: inout [UInt8], _ at: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }

    static func get<T: FixedWidthInteger>(_ bytes: [UInt8], _ at: Int, _: T.Type) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(bytes[at + i]) << (8 * i) }
        return v
    }

    static func putString(_ s: String, _ bytes: inout [UInt8], _ at: Int) {
        for (i, b) in s.utf8.enumerated() { bytes[at + i] = b }
    }

    static func string(_ bytes: [UInt8], _ at: Int, _ size: Int) -> String {
        String(decoding: bytes[at..<(at + size)].prefix { $0 != 0 }, as: UTF8.self)
    }

    static let chunk = 4096
    static let uuid: [UInt8] = (0..<16).map { UInt8(0xA0 + $0) }

    /// A 256 KiB volume: 4 KiB chunks, 4 buckets x 4 entries (one table chunk), data from chunk 3.
    static func handWrittenVolume() -> [UInt8] {
        var v = [UInt8](repeating: 0, count: 64 * chunk)
        let h = 1024
        putString("SHFS", &v, h + 0)
        v[h + 4] = 2
        v[h + 5] = 1
        for i in 0..<16 { v[h + 6 + i] = uuid[i] }
        putString("handmade", &v, h + 22)
        v[h + 38] = 0
        v[h + 39] = 0
        put(UInt64(63), &v, h + 40)
        put(UInt64(1_700_000_000), &v, h + 48)
        v[h + 56] = 0
        put(UInt32(4096), &v, h + 57)
        for i in 0..<16 { v[h + 61 + i] = uuid[i] }
        v[h + 77] = 1
        for i in 0..<16 { v[h + 78 + i] = uuid[i] }
        let c = chunk
        put(UInt64(2), &v, c + 0)
        put(UInt64(0), &v, c + 8)
        v[c + 16] = 2
        v[c + 17] = 32
        put(UInt32(4), &v, c + 18)
        put(UInt32(4), &v, c + 22)
        v[c + 26] = 1

        // A file entry, bucket 1 (first digest byte 0x05 -> 5 % 4 = 1), slot 4.
        var e = 2 * chunk + 4 * 256
        v[e + 0] = 0x05
        for i in 1..<32 { v[e + i] = UInt8(i) }
        put(UInt64(3), &v, e + 64)
        put(UInt64(16), &v, e + 72)
        put(UInt64(5000), &v, e + 80)
        putString("text/plain", &v, e + 88)
        putString("gzip", &v, e + 120)
        put(UInt64(1_700_000_123), &v, e + 172)
        v[e + 180] = 0x8 | 0x1
        putString("docs/readme.txt", &v, e + 181)
        for i in 0..<5000 { v[3 * chunk + 16 + i] = UInt8(truncatingIfNeeded: i * 7) }

        // A link entry, bucket 2, slot 9 (second slot of the bucket).
        e = 2 * chunk + 9 * 256
        v[e + 0] = 0x06
        v[e + 31] = 0xFF
        v[e + 64] = 0
        putString("media.example.net", &v, e + 65)
        put(UInt16(8081), &v, e + 98)
        putString("live/2/index.m3u8?x=1", &v, e + 100)
        v[e + 171] = 2
        put(UInt64(1_700_000_456), &v, e + 172)
        v[e + 180] = 0x4
        putString("live-auto", &v, e + 181)
        return v
    }

    @Test func readsAVolumeWrittenByHandFromTheFormatDocument() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("hand.shfs", Self.handWrittenVolume())
        let vol = try Volume(path: path)
        let h = vol.header
        #expect(h.name == "handmade")
        #expect(h.uuid == Self.uuid)
        #expect(h.memberUUID == Self.uuid)
        #expect(h.sizeInChunks == 63)
        #expect(h.creationTime == 1_700_000_000)
        #expect(h.stripeMode == .independent)
        #expect(h.stripeSize == 4096)
        #expect(h.chunkSize == 4096)
        #expect(h.memberCount == 1)
        #expect(h.hashTableChunk == 2)
        #expect(h.backupHashTableChunk == 0)
        #expect(h.hashFunction == .sha)
        #expect(h.digestLength == 32)
        #expect(h.bucketCount == 4)
        #expect(h.entriesPerBucket == 4)
        #expect(h.allocator == .bestFit)
        #expect(h.dataStartChunk == 3)
        #expect(vol.entries.map(\.slot) == [4, 9])

        let file = try #require(vol.entry(name: "docs/readme.txt"))
        #expect(file.digest == [0x05] + (1..<32).map { UInt8($0) })
        #expect(file.creationTime == 1_700_000_123)
        #expect(file.flags == [.isDefault, .hidden])
        #expect(file.extent == Extent(byteOffset: 3 * 4096 + 16, length: 5000, mimeType: "text/plain", encoding: "gzip"))
        #expect(vol.defaultEntry == file)
        #expect(same(try vol.contents(of: file), (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }))

        let link = try #require(vol.entry(name: "live-auto"))
        #expect(link.flags == .link)
        #expect(link.creationTime == 1_700_000_456)
        #expect(link.link == Link(host: "media.example.net", port: 8081, path: "live/2/index.m3u8?x=1", type: .auto, hostType: .name))
        #expect(vol.entry(digest: link.digest) == link)
    }

    @Test func writesEveryFieldAtItsDocumentedOffset() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("made.shfs")
        let header = try Volume.format(path: path, options: FormatOptions(
            size: 1 << 20, chunkSize: 8192, bucketCount: 16, entriesPerBucket: 4, digestLength: 32,
            name: "written", allocator: .bestFit, backupTable: true
        ))
        let content = (0..<20000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let w = try VolumeWriter(path: path)
        let object = try w.add(bytes: content, options: ObjectOptions(name: "a/b.bin", mimeType: "application/x-test", encoding: "br"))
        try w.setDefault(object)
        let link = try w.addLink(url: "http://cdn.example.org:8443/x/y.ts", type: .raw, name: "far")
        let v = try readBytes(path)

        let h = 1024
        #expect(Array(v[0..<1024]) == [UInt8](repeating: 0, count: 1024))
        #expect(Self.string(v, h + 0, 4) == "SHFS")
        #expect(v[h + 4] == 2 && v[h + 5] == 1)
        #expect(Array(v[(h + 6)..<(h + 22)]) == header.uuid)
        #expect(Self.string(v, h + 22, 16) == "written")
        #expect(v[h + 38] == 0)
        #expect(Self.get(v, h + 40, UInt64.self) == UInt64((1 << 20) / 8192 - 1))
        #expect(Self.get(v, h + 48, UInt64.self) == UInt64(header.creationTime))
        #expect(v[h + 56] == 0)
        #expect(Self.get(v, h + 57, UInt32.self) == 8192)
        #expect(Array(v[(h + 61)..<(h + 77)]) == header.memberUUID)
        #expect(v[h + 77] == 1)
        #expect(Array(v[(h + 78)..<(h + 94)]) == header.memberUUID)

        let c = 8192
        #expect(Self.get(v, c + 0, UInt64.self) == 2)
        // 64 entries of 256 bytes = 2 chunks of 8 KiB: the backup follows at chunk 4.
        #expect(Self.get(v, c + 8, UInt64.self) == 4)
        #expect(v[c + 16] == 2)
        #expect(v[c + 17] == 32)
        #expect(Self.get(v, c + 18, UInt32.self) == 16)
        #expect(Self.get(v, c + 22, UInt32.self) == 4)
        #expect(v[c + 26] == 1)

        for table in [2, 4] {
            let e = table * c + (object.slot / 32) * c + (object.slot % 32) * 256
            #expect(object.slot / 4 == Int(Self.get(v, e, UInt32.self) % 16), "bucket = first 4 digest bytes LE mod buckets")
            #expect(Array(v[e..<(e + 32)]) == object.digest)
            #expect(hex(Array(v[e..<(e + 32)])) == hex(sha256(content)))
            #expect(Array(v[(e + 32)..<(e + 64)]) == [UInt8](repeating: 0, count: 32))
            let firstChunk = Self.get(v, e + 64, UInt64.self)
            #expect(firstChunk >= 6)
            #expect(Self.get(v, e + 72, UInt64.self) == 0)
            #expect(Self.get(v, e + 80, UInt64.self) == 20000)
            #expect(Self.string(v, e + 88, 32) == "application/x-test")
            #expect(Self.string(v, e + 120, 16) == "br")
            #expect(Self.get(v, e + 172, UInt64.self) == UInt64(object.creationTime))
            #expect(v[e + 180] == 0x8)
            #expect(Self.string(v, e + 181, 64) == "a/b.bin")
            #expect(Array(v[(e + 245)..<(e + 256)]) == [UInt8](repeating: 0, count: 11))
            #expect(same(Array(v[Int(firstChunk) * c..<(Int(firstChunk) * c + 20000)]), content))

            let l = table * c + (link.slot / 32) * c + (link.slot % 32) * 256
            #expect(hex(Array(v[l..<(l + 32)])) == hex(sha256(Array("http://cdn.example.org:8443/x/y.ts".utf8))))
            #expect(v[l + 64] == 0)
            #expect(Self.string(v, l + 65, 32) == "cdn.example.org")
            #expect(v[l + 97] == 0)
            #expect(Self.get(v, l + 98, UInt16.self) == 8443)
            #expect(Self.string(v, l + 100, 71) == "x/y.ts")
            #expect(v[l + 171] == 1)
            #expect(v[l + 180] == 0x4)
            #expect(Self.string(v, l + 181, 64) == "far")
        }
    }
}
