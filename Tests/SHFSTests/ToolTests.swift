import Foundation
import SHFS
import Testing

/// The real `shfs` binary: every subcommand, and every error as one line with a non-zero exit.
struct ToolTests {
    @Test func helpForEveryCommand() async throws {
        for command in ["", "mkfs", "info", "fsck", "ls", "cat", "add", "add-link", "rm", "rename", "set-default", "clear-default", "import", "export", "bench"] {
            let r = try await Tool.run((command.isEmpty ? [] : [command]) + ["--help"])
            #expect(r.status == 0, "\(command)")
            #expect(r.out.contains("USAGE: shfs"), "\(command)")
        }
    }

    @Test func roundTripThroughTheTool() async throws {
        let dir = try TemporaryDirectory()
        let vol = dir.file("t.shfs")
        var r = try await Tool.run(["mkfs", vol, "--size", "2M", "--chunk-size", "4K", "--buckets", "64", "--name", "tooltest"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: vol)[.size] as? Int == 2 << 20)

        let page = try dir.write("site/index.html", Array("<p>hi</p>".utf8))
        try dir.write("site/a/b.css", Array("p{}".utf8))
        r = try await Tool.run(["import", vol, dir.file("site")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.out.contains("imported 2 files"))
        let data = bytes(30_000, seed: 9)
        r = try await Tool.run(["add", vol, "-", "--name", "blob", "--mime", "application/x-blob"], stdin: data)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.out.hasPrefix(hex(sha256(data))))
        r = try await Tool.run(["add", vol, page, "--name", "copy.html", "--digest", String(repeating: "ab", count: 32)])
        #expect(r.status == 0, "\(r.stderr)")
        r = try await Tool.run(["add-link", vol, "http://origin.example:8080/live/1/index.m3u8", "--type", "redirect", "--name", "live"])
        #expect(r.status == 0, "\(r.stderr)")

        r = try await Tool.run(["cat", vol, "blob"])
        #expect(same(r.stdout, data))
        r = try await Tool.run(["cat", vol, hex(sha256(data)).uppercased()])
        #expect(same(r.stdout, data))

        r = try await Tool.run(["ls", vol, "--json"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [[String: Any]])
        #expect(Set(list.compactMap { $0["name"] as? String }) == ["index.html", "a/b.css", "blob", "copy.html", "live"])
        let blob = try #require(list.first { $0["name"] as? String == "blob" })
        #expect(blob["mime"] as? String == "application/x-blob")
        #expect(blob["size"] as? Int == 30_000)
        let live = try #require(list.first { $0["name"] as? String == "live" })
        #expect((live["link"] as? [String: Any])?["url"] as? String == "http://origin.example:8080/live/1/index.m3u8")
        #expect(list.first { $0["name"] as? String == "index.html" }?["default"] as? Bool == true)

        #expect(try await Tool.run(["rename", vol, "blob", "blob2"]).status == 0)
        #expect(try await Tool.run(["set-default", vol, "blob2"]).status == 0)
        #expect(try Volume(path: vol).defaultEntry?.name == "blob2")
        #expect(try await Tool.run(["clear-default", vol]).status == 0)
        #expect(try Volume(path: vol).defaultEntry == nil)
        #expect(try await Tool.run(["rm", vol, "copy.html"]).status == 0)

        r = try await Tool.run(["export", vol, dir.file("out")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try readBytes(dir.file("out/index.html")) == Array("<p>hi</p>".utf8))
        #expect(try readBytes(dir.file("out/a/b.css")) == Array("p{}".utf8))
        #expect(same(try readBytes(dir.file("out/blob2")), data))
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/copy.html")))

        r = try await Tool.run(["info", vol])
        #expect(r.out.contains("tooltest"))
        #expect(r.out.contains("Entries:      4 of"))
        r = try await Tool.run(["fsck", vol, "--verify"])
        #expect(r.status == 0)
        #expect(r.out.contains("clean"))
    }

    /// Each failure: exit status 1, exactly one line on standard error, nothing on standard output,
    /// and the volume's headers and table unchanged.
    @Test func errorsAreOneLineAndLeaveTheVolumeUntouched() async throws {
        let dir = try TemporaryDirectory()
        let vol = dir.file("e.shfs")
        #expect(try await Tool.run(["mkfs", vol, "--size", "256K", "--chunk-size", "4K", "--buckets", "1", "--entries-per-bucket", "2"]).status == 0)
        let one = try dir.write("one.bin", bytes(1000, seed: 1))
        let two = try dir.write("two.bin", bytes(1000, seed: 2))
        let three = try dir.write("three.bin", bytes(1000, seed: 3))
        let big = try dir.write("big.bin", bytes(300_000, seed: 4))
        #expect(try await Tool.run(["add", vol, one]).status == 0)
        let notVolume = try dir.write("plain.txt", Array(repeating: 65, count: 8192))

        let cases: [([String], String)] = [
            (["add", vol, big], "volume full"),
            (["add", vol, one, "--name", "again"], "already on the volume"),
            (["add", vol, two, three], "--entries-per-bucket"),
            (["add", vol, two, "--name", "one.bin"], "the name 'one.bin' is already used"),
            (["cat", vol, "nope"], "no object with digest or name 'nope'"),
            (["rm", vol, String(repeating: "0", count: 64)], "no object with digest or name"),
            (["add-link", vol, "ftp://host/x"], "bad URL"),
            (["add-link", vol, "http://host:70000/x"], "bad URL"),
            (["ls", notVolume], "not an SHFS volume"),
            (["add", notVolume, one], "not an SHFS volume"),
            (["info", dir.file("missing.shfs")], "cannot open volume"),
            (["mkfs", vol, "--size", "256K"], "add --force"),
            (["mkfs", dir.file("small.shfs"), "--size", "16K"], "too small"),
            (["add", vol, dir.file("no-such-file")], "cannot open"),
            (["add", vol, two, "--digest", "abc"], "64 hex digits"),
            (["add-link", vol, "http://h/x", "--digest", "zz"], "64 hex digits"),
        ]
        for (args, fragment) in cases {
            let before = try metadata(vol)
            let r = try await Tool.run(args)
            #expect(r.status == 1, "\(args)")
            #expect(r.stdout.isEmpty, "\(args): \(r.out)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(fragment), "\(args): \(r.stderr)")
            #expect(try metadata(vol) == before, "\(args)")
        }
        #expect(try Volume(path: vol).entries.map(\.name) == ["one.bin"])
    }

    @Test func mkfsTakesAnExistingZeroFileAtItsSize() async throws {
        let dir = try TemporaryDirectory()
        let vol = dir.file("zero.shfs")
        #expect(FileManager.default.createFile(atPath: vol, contents: nil))
        #expect(truncate(vol, 3 << 20) == 0)
        let r = try await Tool.run(["mkfs", vol, "--chunk-size", "4K", "--buckets", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Volume(path: vol).header.sizeInChunks == (3 << 20) / 4096 - 1)
        let again = try await Tool.run(["mkfs", vol, "--size", "64M"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds an SHFS volume; add --force"))
    }

    @Test func fsckExitsNonZeroOnACorruptVolume() async throws {
        let dir = try TemporaryDirectory()
        let vol = dir.file("c.shfs")
        #expect(try await Tool.run(["mkfs", vol, "--size", "1M", "--chunk-size", "4K", "--buckets", "64", "--backup-table"]).status == 0)
        let f = try dir.write("f.bin", bytes(5000, seed: 1))
        #expect(try await Tool.run(["add", vol, f]).status == 0)
        let v = try Volume(path: vol)
        let e = try #require(v.entries.first)
        try patch(vol, at: Int(v.header.entryByteOffset(slot: e.slot)) + 64, le64(1))
        var r = try await Tool.run(["fsck", vol])
        #expect(r.status == 1)
        #expect(r.out.contains("outside the data area"))
        #expect(r.stderr.contains("--repair"))
        r = try await Tool.run(["ls", vol])
        #expect(r.status == 1)
        #expect(r.stderr.contains("run `shfs fsck"))
        r = try await Tool.run(["fsck", vol, "--repair"])
        #expect(r.status == 0, "\(r.out) \(r.stderr)")
        #expect(r.out.contains("restored from the backup table"))
        #expect(same(try await Tool.run(["cat", vol, "f.bin"]).stdout, bytes(5000, seed: 1)))
    }
}
