@testable import ElasticControl
import Crypto
import Foundation
import MiniCacheTesting
import Testing

/// The image builders against the host's own tools: archives are unpacked by `tar` and `cpio`,
/// images are built from the real `minicache`. On threads of their own: a build waits for tar,
/// cpio and the compiler for seconds without suspending.
@Suite(.onOwnThreads)
struct ImageTests {
    static let hasTar = ImageTools.find("tar") != nil
    static let hasCpio = ImageTools.find("cpio") != nil
    static let hasKernel = VMImage.defaultKernel() != nil
    static let hasCompiler = ["cc", "gcc", "clang"].contains { ImageTools.find($0) != nil }

    func sampleEntries(_ directory: String) throws -> [ArchiveEntry] {
        let source = directory + "/source.bin"
        let bytes = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: source))
        return [
            ArchiveEntry("bin/tool", mode: 0o755, .file(source: source)),
            ArchiveEntry("etc/hosts", mode: 0o644, .bytes(Array("127.0.0.1 localhost\n".utf8))),
            ArchiveEntry("data", mode: 0o777, .directory),
            ArchiveEntry("bin", mode: 0o755, .directory),
            ArchiveEntry("etc", mode: 0o755, .directory),
            ArchiveEntry(String(repeating: "deep/", count: 25) + "file", mode: 0o600, .bytes([1, 2, 3])),
        ] + (0..<25).map { ArchiveEntry(String(repeating: "deep/", count: $0 + 1).dropLast().description, mode: 0o755, .directory) }
    }

    func expectUnpacked(_ out: String, _ directory: String) throws {
        let tool = try Data(contentsOf: URL(fileURLWithPath: out + "/bin/tool"))
        #expect(tool == (try Data(contentsOf: URL(fileURLWithPath: directory + "/source.bin"))))
        #expect(try String(contentsOfFile: out + "/etc/hosts", encoding: .utf8) == "127.0.0.1 localhost\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: out + "/bin/tool")
        #expect((attributes[.posixPermissions] as? Int) == 0o755)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/" + String(repeating: "deep/", count: 25) + "file")) == Data([1, 2, 3]))
    }

    @Test(.enabled(if: hasTar, "needs tar to unpack the archive")) func tarArchiveUnpacksWithTarAndIsReproducible() throws {
        let directory = TestEnvironment.temporaryDirectory("tar")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let entries = try sampleEntries(directory)
        var digests: [String] = []
        for name in ["a.tar", "b.tar"] {
            let file = try ArchiveFile(creating: directory + "/" + name)
            try TarWriter().write(entries.reversed(), to: file)
            digests.append(try file.finish())
        }
        #expect(digests[0] == digests[1])
        let out = directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try ImageTools.run(try #require(ImageTools.find("tar")), ["-xf", directory + "/a.tar", "-C", out])
        try expectUnpacked(out, directory)
        let listing = try ImageTools.run(try #require(ImageTools.find("tar")), ["-tvf", directory + "/a.tar"])
        #expect(listing.contains("root/root"))
    }

    @Test(.enabled(if: hasCpio, "needs cpio to unpack the archive")) func cpioArchiveUnpacksWithCpio() throws {
        let directory = TestEnvironment.temporaryDirectory("cpio")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try ArchiveFile(creating: directory + "/root.cpio")
        try CPIOWriter().write(try sampleEntries(directory), to: file)
        _ = try file.finish()
        let out = directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let cpio = try #require(ImageTools.find("cpio"))
        let listing = try ImageTools.run("/bin/sh", ["-c", "cd '\(out)' && '\(cpio)' -idm --quiet < '\(directory)/root.cpio' && '\(cpio)' -itv < '\(directory)/root.cpio'"])
        try expectUnpacked(out, directory)
        #expect(listing.contains("bin/tool"))
    }

    @Test func tarRefusesDeviceNodes() throws {
        let directory = TestEnvironment.temporaryDirectory("tardev")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try ArchiveFile(creating: directory + "/dev.tar")
        #expect(throws: ControlError.self) {
            try TarWriter().write([ArchiveEntry("dev/console", mode: 0o600, .characterDevice(major: 5, minor: 1))], to: file)
        }
    }

    @Test func ociImageLinksIndexManifestConfigAndLayerByDigest() throws {
        let directory = TestEnvironment.temporaryDirectory("oci")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = try OCIImage.build(OCIImage.BuildOptions(minicache: Binaries.minicache, strip: false), into: directory)
        func blob(_ digest: String) throws -> Data {
            let data = try Data(contentsOf: URL(fileURLWithPath: image.layout + "/blobs/sha256/" + digest.dropFirst("sha256:".count)))
            #expect("sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() == digest)
            return data
        }
        let layoutFile = try JSONDecoder().decode(OCIImageSchema.Layout.self, from: Data(contentsOf: URL(fileURLWithPath: image.layout + "/oci-layout")))
        #expect(layoutFile.imageLayoutVersion == "1.0.0")
        let index = try JSONDecoder().decode(OCIImageSchema.Index.self, from: Data(contentsOf: URL(fileURLWithPath: image.layout + "/index.json")))
        let entry = try #require(index.manifests.first)
        #expect(entry.digest == image.manifestDigest)
        #expect(entry.annotations?[OCIImageSchema.refName] == "latest")
        let manifestData = try blob(entry.digest)
        #expect(Int64(manifestData.count) == entry.size)
        let manifest = try JSONDecoder().decode(OCIImageSchema.Manifest.self, from: manifestData)
        let configuration = try JSONDecoder().decode(OCIImageSchema.Configuration.self, from: try blob(manifest.config.digest))
        #expect(configuration.config.entrypoint == ["/minicache"])
        #expect(configuration.config.user == "65534:65534")
        #expect(configuration.os == "linux")
        let layer = try #require(manifest.layers.first)
        _ = try blob(layer.digest)
        #expect(configuration.rootfs.diffIDs.count == 1)
        // The bundle's root holds the same executable, and its configuration runs it.
        #expect(FileManager.default.contentsEqual(atPath: image.rootfs + "/minicache", andPath: Binaries.minicache))
        let spec = try JSONDecoder().decode(OCIRuntimeSpec.self, from: Data(contentsOf: URL(fileURLWithPath: image.bundle + "/config.json")))
        #expect(spec.process.args.first == "/minicache")
        #expect(spec.root.readonly)
        #expect(spec.process.capabilities.bounding.isEmpty)
        #expect(FileManager.default.fileExists(atPath: image.bundle + "/data/volume.shfs"))
        #expect(try OCIImage.open(directory) == image)
    }

    @Test func sameInputsGiveTheSameImageDigest() throws {
        let first = TestEnvironment.temporaryDirectory("oci-a")
        let second = TestEnvironment.temporaryDirectory("oci-b")
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        let options = OCIImage.BuildOptions(minicache: Binaries.minicache, strip: false, compress: false)
        #expect(try OCIImage.build(options, into: first).manifestDigest == OCIImage.build(options, into: second).manifestDigest)
    }

    @Test func openingAFolderWithoutAnImageSaysHowToWriteOne() throws {
        #expect {
            try OCIImage.open("/nonexistent/image")
        } throws: { error in
            "\(error)".contains("ecdn image oci --out")
        }
        #expect {
            try VMImage.open("/nonexistent/vm")
        } throws: { error in
            "\(error)".contains("ecdn image vm --out")
        }
    }

    @Test(.enabled(if: hasKernel && hasCompiler && hasCpio, "needs a kernel in /boot (linux-image-cloud-amd64), a C compiler and cpio"))
    func vmImageHoldsInitMinicacheModulesAndConsole() throws {
        let directory = TestEnvironment.temporaryDirectory("vm")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = try VMImage.build(VMImage.BuildOptions(minicache: Binaries.minicache), into: directory)
        let cpio = try #require(ImageTools.find("cpio"))
        let listing = try ImageTools.run("/bin/sh", ["-c", "'\(cpio)' -itv < '\(image.initramfs)'"])
        #expect(listing.contains(" init\n"))
        #expect(listing.contains(" minicache\n"))
        #expect(listing.contains("dev/console"))
        for index in image.manifest.modules.indices { #expect(listing.contains("modules/\(index).ko")) }
        // Dependencies load first.
        if let net = image.manifest.modules.firstIndex(of: "virtio_net"), let ring = image.manifest.modules.firstIndex(of: "virtio_ring") {
            #expect(ring < net)
        }
        // The init is a static executable: nothing in the initramfs could load it otherwise.
        let out = directory + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try ImageTools.run("/bin/sh", ["-c", "cd '\(out)' && '\(cpio)' -id --quiet init < '\(image.initramfs)'"])
        #expect(ELFFile.interpreter(of: out + "/init") == nil)
        #expect(try VMImage.open(directory) == image)
        #expect(FileManager.default.fileExists(atPath: image.kernel))
    }

    @Test func kernelModulesLoadDependenciesFirstAndSkipBuiltIns() throws {
        let directory = TestEnvironment.temporaryDirectory("modules")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio_ring.ko:
            kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
            kernel/net/core/failover.ko:

            """.write(toFile: directory + "/modules.dep", atomically: true, encoding: .utf8)
        try "kernel/drivers/block/virtio_blk.ko\n".write(toFile: directory + "/modules.builtin", atomically: true, encoding: .utf8)
        let modules = try KernelModules(directory: directory, kernel: "test").loadOrder(for: VMImage.requiredDrivers)
        #expect(modules.map(\.name) == ["virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net"])
        #expect(modules.last?.path == directory + "/kernel/drivers/net/virtio_net.ko.xz")
        #expect {
            try KernelModules(directory: directory, kernel: "test").loadOrder(for: ["virtio_gpu"])
        } throws: { error in
            "\(error)".contains("virtio_gpu") && "\(error)".contains("--kernel")
        }
    }
}
