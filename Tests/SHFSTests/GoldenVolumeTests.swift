import Foundation
import SHFS
import Testing

/// Reads the 1 MiB volume written by the original MiniCache tools and checks it against its manifest.
@Suite(.enabled(if: TestPaths.goldenAvailable, "golden volume absent: expected ../shared/data/golden/golden.shfs next to the package root"))
struct GoldenVolumeTests {
    struct Manifest: Decodable {
        struct LinkInfo: Decodable {
            var htype: Int
            var host: String
            var port: Int
            var path: String
            var type: Int
        }

        struct Item: Decodable {
            var name: String
            var digest: String
            var flags: Int
            var ts: Int64
            var slot: Int
            var bucket: Int
            var chunk: Int64?
            var offset: Int64?
            var len: Int64?
            var mime: String?
            var encoding: String?
            var link: LinkInfo?
        }

        var name: String
        var chunk_size: Int
        var vol_size_chunks: Int64
        var buckets: Int
        var entries_per_bucket: Int
        var hash_function: Int
        var digest_length: Int
        var metadata_chunks: Int64
        var entries: [Item]
    }

    let dir = TestPaths.goldenDirectory
    var manifest: Manifest {
        get throws { try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) }
    }

    @Test func headerMatchesManifest() throws {
        let m = try manifest
        let v = try Volume(path: dir + "/golden.shfs")
        #expect(v.header.name == m.name)
        #expect(v.header.chunkSize == m.chunk_size)
        #expect(v.header.sizeInChunks == m.vol_size_chunks)
        #expect(v.header.bucketCount == m.buckets)
        #expect(v.header.entriesPerBucket == m.entries_per_bucket)
        #expect(Int(v.header.hashFunction.rawValue) == m.hash_function)
        #expect(v.header.digestLength == m.digest_length)
        #expect(v.header.dataStartChunk == m.metadata_chunks)
        #expect(v.header.backupHashTableChunk == 0)
    }

    @Test func everyEntryMatchesManifest() throws {
        let m = try manifest
        let v = try Volume(path: dir + "/golden.shfs")
        #expect(v.entries.count == m.entries.count)
        #expect(v.entries.map(\.slot) == v.entries.map(\.slot).sorted())
        for item in m.entries {
            let e = try #require(v.entry(hexDigest: item.digest), "\(item.name)")
            #expect(v.entry(hexDigest: item.digest.uppercased()) == e)
            #expect(v.entry(name: item.name) == e)
            #expect(e.name == item.name)
            #expect(e.hexDigest == item.digest)
            #expect(Int(e.flags.rawValue) == item.flags)
            #expect(e.creationTime == item.ts)
            #expect(e.slot == item.slot)
            #expect(e.slot / v.header.entriesPerBucket == item.bucket)
            if let link = item.link {
                let l = try #require(e.link)
                #expect(Int(l.hostType.rawValue) == link.htype)
                #expect(l.host == link.host)
                #expect(Int(l.port) == link.port)
                #expect(l.path == link.path)
                #expect(Int(l.type.rawValue) == link.type)
            } else {
                let x = try #require(e.extent)
                let chunk = try #require(item.chunk)
                #expect(x.byteOffset == chunk * Int64(m.chunk_size) + (item.offset ?? 0))
                #expect(x.length == item.len)
                #expect(x.mimeType == item.mime)
                #expect(x.encoding == item.encoding)
                let original = try readBytes(dir + "/" + item.name)
                #expect(same(try v.contents(of: e), original))
            }
        }
    }

    @Test func defaultObjectAndLinks() throws {
        let v = try Volume(path: dir + "/golden.shfs")
        let d = try #require(v.defaultEntry)
        #expect(d.name == "index.html")
        #expect(d.extent?.mimeType == "text/html")
        let redirect = try #require(v.entry(name: "live-redirect")?.link)
        #expect(redirect.type == .redirect)
        #expect(redirect.url == "http://origin.example:8080/live/1/index.m3u8")
        #expect(v.entry(name: "10000.bin")?.extent?.effectiveMimeType == "application/octet-stream")
    }

    @Test func lookupsRejectMalformedDigests() throws {
        let v = try Volume(path: dir + "/golden.shfs")
        let good = "00cd528798efc1bdafaaeac6c8685bc16665f55ed5ee1fc82a3f8fb7f367902c"
        #expect(v.entry(hexDigest: good) != nil)
        #expect(v.entry(hexDigest: String(good.dropLast())) == nil)
        #expect(v.entry(hexDigest: good + "0") == nil)
        #expect(v.entry(hexDigest: "zz" + good.dropFirst(2)) == nil)
        #expect(v.entry(hexDigest: String(repeating: "1", count: 64)) == nil)
        #expect(v.entry(digest: [UInt8](repeating: 0, count: 31)) == nil)
        #expect(v.entry(name: "missing") == nil)
    }
}
