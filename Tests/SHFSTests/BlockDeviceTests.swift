import Foundation
import SHFS
import Testing

/// A volume on a real block device: a loop device over a file, when this machine lets us attach one
/// (root, `losetup`); skipped otherwise.
@Suite(.enabled(if: LoopDevice.available, "no loop device: needs root and losetup"))
struct BlockDeviceTests {
    @Test func volumeOnALoopDevice() async throws {
        let dir = try TemporaryDirectory()
        let image = dir.file("disk.img")
        #expect(FileManager.default.createFile(atPath: image, contents: nil))
        #expect(truncate(image, 16 << 20) == 0)
        let device = try #require(LoopDevice.attach(image))
        defer { LoopDevice.detach(device) }

        var r = try await Tool.run(["mkfs", device, "--chunk-size", "4K", "--buckets", "64", "--name", "loop"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try await Tool.run(["mkfs", device, "--buckets", "64"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("already holds an SHFS volume"))
        let file = try dir.write("object.bin", bytes(50_000, seed: 3))
        #expect(try await Tool.run(["add", device, file]).status == 0)
        let v = try Volume(path: device)
        #expect(v.header.sizeInChunks == (16 << 20) / 4096 - 1, "the device size, as the original mkfs computes it")
        #expect(same(try v.contents(of: #require(v.entry(name: "object.bin"))), bytes(50_000, seed: 3)))
        #expect(try await Tool.run(["fsck", device, "--verify"]).status == 0)
    }
}

enum LoopDevice {
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.fileExists(atPath: "/dev/loop-control"),
              let dir = try? TemporaryDirectory() else { return false }
        let image = dir.file("probe.img")
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, 1 << 20) == 0,
              let device = attach(image) else { return false }
        detach(device)
        return true
    }()

    static func attach(_ image: String) -> String? {
        guard let out = run(["-f", "--show", image]) else { return nil }
        let device = out.trimmingCharacters(in: .whitespacesAndNewlines)
        return device.hasPrefix("/dev/") ? device : nil
    }

    static func detach(_ device: String) { _ = run(["-d", device]) }

    private static func run(_ arguments: [String]) -> String? {
        for path in ["/usr/sbin/losetup", "/sbin/losetup"] where FileManager.default.isExecutableFile(atPath: path) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return nil }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
        }
        return nil
    }
}
