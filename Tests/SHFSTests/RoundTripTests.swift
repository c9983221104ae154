import Foundation
import SHFS
import SystemPackage
import Testing

struct RoundTripTests {
    @Test func addFromFileBytesAndPipeThenReadBack() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir)
        let fileContent = bytes(10_000, seed: 1)
        let filePath = try dir.write("page.html", fileContent)
        let w = try VolumeWriter(path: path)
        let fd = try FileDescriptor.open(FilePath(filePath), .readOnly)
        let a = try w.add(from: fd, length: Int64(fileContent.count), options: ObjectOptions(name: "page.html", mimeType: "text/html"))
        try fd.close()
        let b = try w.add(bytes: bytes(4096, seed: 2), options: ObjectOptions(name: "exact-chunk"))
        let empty = try w.add(bytes: [], options: ObjectOptions(name: "empty"))

        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let piped = bytes(70_000, seed: 3)
        let writeEnd = fds[1]
        let writerThread = Thread {
            piped.withUnsafeBytes { _ = write(writeEnd, $0.baseAddress, $0.count) }
            close(writeEnd)
        }
        writerThread.start()
        let c = try w.add(from: FileDescriptor(rawValue: fds[0]), length: nil, options: ObjectOptions(name: "stdin", hidden: true))
        close(fds[0])

        let v = try Volume(path: path)
        #expect(v.entries.count == 4)
        #expect(same(try v.contents(of: #require(v.entry(name: "page.html"))), fileContent))
        #expect(v.entry(name: "page.html")?.digest == sha256(fileContent))
        #expect(v.entry(name: "page.html")?.extent?.mimeType == "text/html")
        #expect(same(try v.contents(of: #require(v.entry(digest: b.digest))), bytes(4096, seed: 2)))
        #expect(b.digest == sha256(bytes(4096, seed: 2)), "a whole-chunk file gets its real SHA-256")
        #expect(same(try v.contents(of: #require(v.entry(hexDigest: c.hexDigest))), piped))
        #expect(v.entry(name: "stdin")?.isHidden == true)
        #expect(same(try v.contents(of: #require(v.entry(name: "empty"))), []))
        #expect(empty.digest == sha256([]))
        #expect(a.extent!.byteOffset % 4096 == 0)
        let check = try VolumeCheck.run(path: path, options: .init(verifyDigests: true))
        #expect(check.problems.isEmpty)
        #expect(check.digestsVerified == 4)
    }

    @Test func givenDigestLinksRenameDefaultAndRemove() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir)
        let w = try VolumeWriter(path: path)
        let digest = [UInt8](repeating: 0xAB, count: 32)
        let a = try w.add(bytes: Array("hello".utf8), options: ObjectOptions(name: "a.txt", digest: digest))
        #expect(a.digest == digest)
        let link = try w.addLink(url: "http://Origin.Example:8080/live/1/index.m3u8", type: .redirect, name: "live")
        #expect(link.digest == sha256(Array("http://Origin.Example:8080/live/1/index.m3u8".utf8)))
        #expect(link.link == Link(host: "origin.example", port: 8080, path: "live/1/index.m3u8", type: .redirect))
        let raw = try w.addLink(url: "http://10.0.0.1/seg.ts", type: .raw)
        #expect(raw.link?.port == 80)
        #expect(raw.link?.url == "http://10.0.0.1/seg.ts")

        try w.setDefault(a)
        try w.rename(a, to: "b.txt")
        #expect(try Volume(path: path).defaultEntry?.name == "b.txt")
        try w.setDefault(link)
        var v = try Volume(path: path)
        #expect(v.entries.filter(\.isDefault).map(\.name) == ["live"])
        #expect(v.entry(name: "a.txt") == nil)
        #expect(v.entry(name: "b.txt")?.digest == digest)
        #expect(try w.clearDefault() == 1)
        #expect(try Volume(path: path).defaultEntry == nil)

        try w.remove(try w.requireEntry("b.txt"))
        try w.remove(try w.requireEntry(raw.hexDigest))
        v = try Volume(path: path)
        #expect(v.entries.map(\.name) == ["live"])
        expectSHFSError(.notFound, containing: "no object with digest or name 'b.txt'") { _ = try w.requireEntry("b.txt") }
        // The same content can come back once removed.
        try w.add(bytes: Array("hello".utf8), options: ObjectOptions(name: "a.txt", digest: digest))
        #expect(try Volume(path: path).entry(name: "a.txt") != nil)
    }

    @Test(arguments: [
        ("https://x.example/a", "plain http://"),
        ("ftp://x/a", "plain http://"),
        ("http:///path", "no host"),
        ("http://x.example:0/a", "port"),
        ("http://x.example:99999/a", "port"),
        ("http://bad host/a", "characters"),
        ("http://[::1]/a", "IPv6"),
        ("http://" + String(repeating: "h", count: 33) + "/a", "at most 32"),
        ("http://x.example/" + String(repeating: "p", count: 72), "at most 71"),
        ("http://x.example/a b", "spaces"),
    ])
    func badURLsAreRefusedAndTheVolumeIsUntouched(url: String, fragment: String) throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir)
        let before = try metadata(path)
        let w = try VolumeWriter(path: path)
        expectSHFSError(.invalidArgument, containing: fragment) { try w.addLink(url: url, type: .redirect) }
        #expect(try metadata(path) == before)
    }

    @Test func errorsLeaveTheVolumeUntouched() throws {
        let dir = try TemporaryDirectory()
        // 1 bucket x 2 entries: the third add fills it.
        let path = try makeVolume(dir, size: 64 << 10, buckets: 1, perBucket: 2)
        let w = try VolumeWriter(path: path)
        try w.add(bytes: bytes(100, seed: 1), options: ObjectOptions(name: "one"))
        try w.add(bytes: bytes(100, seed: 2), options: ObjectOptions(name: "two"))
        var before = try metadata(path)
        expectSHFSError(.bucketFull, containing: "--entries-per-bucket") { try w.add(bytes: bytes(100, seed: 3), options: ObjectOptions(name: "three")) }
        #expect(try metadata(path) == before)
        try w.remove(try w.requireEntry("two"))
        before = try metadata(path)
        expectSHFSError(.duplicateDigest, containing: "already on the volume ('one')") { try w.add(bytes: bytes(100, seed: 1), options: ObjectOptions(name: "other")) }
        expectSHFSError(.duplicateName, containing: "the name 'one' is already used") { try w.add(bytes: bytes(100, seed: 4), options: ObjectOptions(name: "one")) }
        expectSHFSError(.volumeFull, containing: "volume full") { try w.add(bytes: bytes(200_000, seed: 5), options: ObjectOptions(name: "big")) }
        expectSHFSError(.invalidArgument, containing: "at most 64 bytes") { try w.add(bytes: bytes(10, seed: 6), options: ObjectOptions(name: String(repeating: "n", count: 65))) }
        expectSHFSError(.invalidArgument, containing: "the limit is 32") { try w.add(bytes: bytes(10, seed: 6), options: ObjectOptions(mimeType: String(repeating: "m", count: 33))) }
        expectSHFSError(.invalidArgument, containing: "64 hex digits") { try w.add(bytes: bytes(10, seed: 6), options: ObjectOptions(digest: [1, 2, 3])) }
        #expect(try metadata(path) == before)
        // The space of a failed add is free again.
        try w.add(bytes: bytes(40_000, seed: 7), options: ObjectOptions(name: "fits"))

        #expect(try VolumeCheck.run(path: path, options: .init(verifyDigests: true)).problems.isEmpty)
    }

    @Test func aFullVolumeStillTakesEmptyObjects() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir, size: 128 << 10, buckets: 16, perBucket: 4)
        let w = try VolumeWriter(path: path)
        var seed: UInt64 = 1
        while w.freeBytes.total > 0 {
            try w.add(bytes: bytes(Int(w.freeBytes.largest), seed: seed), options: ObjectOptions(name: "fill\(seed)"))
            seed += 1
        }
        expectSHFSError(.volumeFull, containing: "0 bytes free") { try w.add(bytes: [1], options: ObjectOptions(name: "one")) }
        try w.add(bytes: [], options: ObjectOptions(name: "empty"))
        #expect(try VolumeCheck.run(path: path, options: .init(verifyDigests: true)).problems.isEmpty)
    }

    @Test(arguments: [VolumeHeader.Allocator.firstFit, .bestFit])
    func allocationPolicyChoosesTheHole(allocator: VolumeHeader.Allocator) throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir, allocator: allocator)
        let w = try VolumeWriter(path: path)
        let sizes = [1, 3, 1, 2, 1]
        let objects = try sizes.enumerated().map { i, chunks in
            try w.add(bytes: bytes(chunks * 4096, seed: UInt64(10 + i)), options: ObjectOptions(name: "o\(i)"))
        }
        for (a, b) in zip(objects, objects.dropFirst()) {
            #expect(b.extent!.byteOffset == a.extent!.byteOffset + a.extent!.length, "objects are laid out contiguously")
        }
        try w.remove(objects[1])
        try w.remove(objects[3])
        let placed = try w.add(bytes: bytes(2 * 4096, seed: 99), options: ObjectOptions(name: "new"))
        let expected = allocator == .firstFit ? objects[1] : objects[3]
        #expect(placed.extent!.byteOffset == expected.extent!.byteOffset)
        #expect(try VolumeCheck.run(path: path).problems.isEmpty)
    }

    @Test func importsAWebTreeAndExportsItBack() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir, size: 4 << 20)
        let files: [String: [UInt8]] = [
            "index.html": Array("<h1>home</h1>".utf8),
            "docs/index.html": Array("<h1>docs</h1>".utf8),
            "img/logo.PNG": bytes(9000, seed: 1),
            "live/index.m3u8": Array("#EXTM3U\n".utf8),
            "live/s0.ts": bytes(5000, seed: 2),
            "data.unknownext": bytes(10, seed: 3),
            ".hidden": bytes(10, seed: 4),
            ".git/config": bytes(10, seed: 5),
            ".well-known/security.txt": Array("Contact: mailto:noc@example.net\n".utf8),
        ]
        for (name, content) in files { try dir.write("site/\(name)", content) }
        let w = try VolumeWriter(path: path)
        var reports: [ImportProgress] = []
        let summary = try w.importTree(at: dir.file("site")) { reports.append($0) }
        #expect(summary.added.count == 7)
        #expect(summary.defaultEntry?.name == "index.html")
        #expect(reports.map(\.filesDone) == Array(1...7))
        #expect(reports.last?.bytesDone == reports.last?.bytesTotal)

        let v = try Volume(path: path)
        #expect(v.defaultEntry?.name == "index.html")
        #expect(v.entry(name: ".hidden") == nil)
        let mimes = Dictionary(uniqueKeysWithValues: v.entries.map { ($0.name, $0.extent!.mimeType) })
        #expect(mimes == [
            "index.html": "text/html", "docs/index.html": "text/html", "img/logo.PNG": "image/png",
            "live/index.m3u8": "application/vnd.apple.mpegurl", "live/s0.ts": "video/mp2t", "data.unknownext": "",
            ".well-known/security.txt": "text/plain",
        ])
        for e in v.entries { #expect(same(try v.contents(of: e), files[e.name] ?? []), "\(e.name)") }
    }

    @Test func aFailingImportRemovesWhatItAdded() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir, size: 4 << 20)
        let w = try VolumeWriter(path: path)
        try w.add(bytes: bytes(3000, seed: 42), options: ObjectOptions(name: "kept"))
        let before = try metadata(path)
        // Files are imported in name order; "z-copy" repeats the content of "a": a duplicate digest
        // after earlier batches were committed (batches of 1 byte = one file each).
        for i in 0..<5 { try dir.write("site/f\(i)", bytes(5000, seed: UInt64(i + 1))) }
        try dir.write("site/a", bytes(7000, seed: 100))
        try dir.write("site/z-copy", bytes(7000, seed: 100))
        expectSHFSError(.duplicateDigest, containing: "z-copy") { try w.importTree(at: dir.file("site"), batchBytes: 1) }
        #expect(try metadata(path) == before)
        #expect(try Volume(path: path).entries.map(\.name) == ["kept"])
        try? FileManager.default.removeItem(atPath: dir.file("site/z-copy"))
        try dir.write("site/" + String(repeating: "x", count: 65), [1])
        expectSHFSError(.invalidArgument, containing: "at most 64") { try w.importTree(at: dir.file("site")) }
        #expect(try metadata(path) == before)
    }

    @Test func backupTableRepairsABadEntry() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir, backup: true)
        var w: VolumeWriter? = try VolumeWriter(path: path)
        let a = try w!.add(bytes: bytes(5000, seed: 1), options: ObjectOptions(name: "a"))
        try w!.add(bytes: bytes(5000, seed: 2), options: ObjectOptions(name: "b"))
        expectSHFSError(.io, containing: "locked by another shfs process") { _ = try VolumeCheck.run(path: path, options: .init(repair: true)) }
        w = nil
        let h = try Volume(path: path).header
        #expect(h.hasBackupTable)
        let entryOffset = Int(h.entryByteOffset(slot: a.slot))
        try patch(path, at: entryOffset + 64, le64(UInt64(h.sizeInChunks + 10)))
        expectSHFSError(.corruptVolume, containing: "outside the data area") { _ = try Volume(path: path) }

        let report = try VolumeCheck.run(path: path)
        #expect(report.remainingErrors == 1)
        #expect(report.problems.contains { $0.message.contains("the backup copy is good") })
        let repaired = try VolumeCheck.run(path: path, options: .init(repair: true))
        #expect(repaired.repairs.contains("slot \(a.slot): restored from the backup table"))
        #expect(repaired.remainingErrors == 0)
        let v = try Volume(path: path)
        #expect(same(try v.contents(of: #require(v.entry(name: "a"))), bytes(5000, seed: 1)))
        #expect(try VolumeCheck.run(path: path, options: .init(verifyDigests: true)).problems.isEmpty)
    }

    @Test func repairWithoutBackupClearsWhatItCannotFix() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir)
        var w: VolumeWriter? = try VolumeWriter(path: path)
        let a = try w!.add(bytes: bytes(5000, seed: 1), options: ObjectOptions(name: "a"))
        let b = try w!.add(bytes: bytes(5000, seed: 2), options: ObjectOptions(name: "b"))
        w = nil
        let h = try Volume(path: path).header
        // Point b at a's chunk: the two extents overlap.
        try patch(path, at: Int(h.entryByteOffset(slot: b.slot)) + 64, le64(UInt64(a.extent!.byteOffset / 4096)))
        let repaired = try VolumeCheck.run(path: path, options: .init(repair: true))
        #expect(repaired.problems.contains { $0.message.contains("overlaps") })
        #expect(repaired.remainingErrors == 0)
        #expect(repaired.repairs.count == 1)
        #expect(try Volume(path: path).entries.count == 1)
    }

    @Test func verifyFindsCorruptedContent() throws {
        let dir = try TemporaryDirectory()
        let path = try makeVolume(dir)
        let w = try VolumeWriter(path: path)
        let a = try w.add(bytes: bytes(5000, seed: 1), options: ObjectOptions(name: "a"))
        try patch(path, at: Int(a.extent!.byteOffset) + 100, [0xFF ^ bytes(5000, seed: 1)[100]])
        #expect(try VolumeCheck.run(path: path).remainingErrors == 0)
        let r = try VolumeCheck.run(path: path, options: .init(verifyDigests: true))
        #expect(r.remainingErrors == 1)
        #expect(r.problems.contains { $0.message.contains("content does not match its digest") })
    }
}
