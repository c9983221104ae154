import Foundation
import SHFS
import Testing

/// Lookups by digest, hex digest and name over a volume with many entries.
struct LookupTests {
    @Test func everyObjectIsFoundByDigestHexAndName() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir, size: 16 << 20, buckets: 64, perBucket: 64)
        let count = 1500
        do {
            let w = try VolumeWriter(path: path)
            for i in 0..<count {
                let name = i == 7 ? String(repeating: "n", count: 64) : "dir\(i % 10)/object-\(i).bin"
                try w.stage(bytes: [UInt8](repeating: UInt8(i % 256), count: i % 3), options: ObjectOptions(name: name, digest: sha256(Array("object \(i)".utf8))))
            }
            try w.commit()
        }
        let v = try Volume(path: path)
        #expect(v.entries.count == count)
        for i in 0..<count {
            let digest = sha256(Array("object \(i)".utf8))
            let name = i == 7 ? String(repeating: "n", count: 64) : "dir\(i % 10)/object-\(i).bin"
            let e = try #require(v.entry(digest: digest))
            #expect(e.name == name)
            #expect(v.entry(digest: digest[...]) == e)
            #expect(v.entry(hexDigest: hex(digest)) == e)
            #expect(v.entry(hexDigest: Substring("/" + hex(digest).uppercased()).dropFirst()) == e)
            #expect(v.entry(name: name) == e)
            #expect(v.entry(name: Substring("/" + name).dropFirst()) == e)
            #expect(v.entry(digestOrName: name) == e)
        }
        #expect(v.entry(digest: sha256(Array("object \(count)".utf8))) == nil)
        #expect(v.entry(name: "dir1/object-1.bi") == nil)
        #expect(v.entry(name: "") == nil)
        #expect(v.entry(name: String(repeating: "n", count: 65)) == nil)
    }

    @Test func anEmptyObjectMayPointAnywhere() throws {
        // Zero-length objects occupy no chunk; other tools may leave their chunk at 0.
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir)
        let e: Entry
        do {
            let w = try VolumeWriter(path: path)
            e = try w.add(bytes: [], options: ObjectOptions(name: "empty"))
        }
        let h = try Volume(path: path).header
        try patch(path, at: Int(h.entryByteOffset(slot: e.slot)) + 64, le64(0))
        let v = try Volume(path: path)
        #expect(try v.contents(of: #require(v.entry(name: "empty"))).isEmpty)
        #expect(try VolumeCheck.run(path: path, options: .init(verifyDigests: true)).problems.isEmpty)
    }
}
