import ArgumentParser
import ElasticControl
import Foundation

/// `ecdn image oci|vm`: images of `minicache` that other platforms run.
struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build images of minicache: an OCI image and runtime bundle, or a microVM kernel and initramfs.",
        discussion: """
            Both take the static minicache when there is one (.build-static/release/minicache, \
            built with `swift build -c release --product minicache --static-swift-stdlib \
            -Xswiftc -static-executable --scratch-path .build-static`); a dynamic one works too \
            and brings its loader and libraries into the image. `ecdn up --backend oci|microvm` \
            builds the image it needs by itself; these commands write one you can ship.
            """,
        subcommands: [OCI.self, VM.self]
    )

    /// Where the executables come from.
    struct Executables: ParsableArguments {
        @Option(help: ArgumentHelp("The minicache executable (default: .build-static/release/minicache when it exists, else the one next to ecdn).", valueName: "PATH"))
        var minicache: String?

        @Flag(help: "Keep debug information in the executables (default: strip it when the host has `strip`).")
        var noStrip = false

        /// The executable to put in the image, and a note when it is not static.
        func minicachePath() -> String {
            if let minicache { return minicache }
            let staticBuild = FileManager.default.currentDirectoryPath + "/.build-static/release/minicache"
            if FileManager.default.isExecutableFile(atPath: staticBuild) { return staticBuild }
            return Up.siblingExecutable("minicache")
        }
    }

    struct OCI: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an OCI image layout and a runtime bundle holding minicache.",
            discussion: """
                DIR/image is an OCI image layout (index.json, oci-layout, blobs: a manifest, a \
                configuration and one layer with /minicache and /shfs): podman, skopeo, \
                containerd and Kubernetes run it unchanged (docs/images.md). DIR/bundle is an \
                OCI runtime bundle of the same root with an empty volume in data/: \
                `sudo runc run -b DIR/bundle mc1` serves it on port 8080 of the host.
                """
        )

        @Option(help: ArgumentHelp("Output folder.", valueName: "DIR"))
        var out = "out/oci"

        @OptionGroup var executables: Executables

        @Option(help: ArgumentHelp("The shfs executable for formatting volumes in a container (default: next to minicache; `none` leaves it out).", valueName: "PATH"))
        var shfs: String?

        @Option(help: "The image's tag in index.json (oci:DIR/image:TAG).")
        var tag = "latest"

        @Flag(help: "Store the layer as a plain tar (default: gzip when the host has it).")
        var noCompress = false

        func run() throws {
            let minicache = executables.minicachePath()
            var shfsPath: String? = shfs ?? URL(fileURLWithPath: minicache).deletingLastPathComponent().appendingPathComponent("shfs").path
            if shfs == "none" || !(FileManager.default.isExecutableFile(atPath: shfsPath ?? "")) {
                if let shfs, shfs != "none" { Up.fail("--shfs \(shfs) is not an executable file") }
                shfsPath = nil
            }
            print("ecdn image oci: minicache \(minicache)\(shfsPath.map { ", shfs \($0)" } ?? "") -> \(out)")
            let start = Date()
            let image: OCIImage
            do {
                image = try OCIImage.build(
                    OCIImage.BuildOptions(minicache: minicache, shfs: shfsPath, tag: tag, strip: !executables.noStrip, compress: !noCompress),
                    into: out
                )
            } catch {
                Up.fail("\(error)")
            }
            print("image:  \(image.layout)  (OCI image layout, manifest \(image.manifestDigest), tag \(tag))")
            print("bundle: \(image.bundle)  (runtime bundle: config.json, rootfs/, data/volume.shfs)")
            if !image.isStatic {
                print("note: minicache is dynamic, so its loader and libraries are in the image; the static build makes it much smaller")
            }
            print("done in \(String(format: "%.1f", Date().timeIntervalSince(start))) s. Try: sudo runc run -b \(image.bundle) mc1   or   podman run --rm -p 8080:8080 -v \(image.bundle)/data:/data oci:\(image.layout):\(tag)   (docs/images.md)")
        }
    }

    struct VM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm",
            abstract: "Write a microVM image: the host's kernel and an initramfs whose init starts minicache.",
            discussion: """
                DIR/kernel is the host kernel (default: the smallest /boot/vmlinuz-*, e.g. \
                Debian's linux-image-cloud-amd64), uncompressed for a PVH boot when it allows; \
                DIR/initramfs.cpio holds /init (a tiny static C program built here with cc), \
                /minicache and the virtio modules the kernel lacks. `ecdn up --backend microvm` \
                boots it with QEMU's microvm machine.
                """
        )

        @Option(help: ArgumentHelp("Output folder.", valueName: "DIR"))
        var out = "out/vm"

        @OptionGroup var executables: Executables

        @Option(help: ArgumentHelp("The kernel (default: the smallest /boot/vmlinuz-*).", valueName: "PATH"))
        var kernel: String?

        @Option(help: ArgumentHelp("The kernel's modules (default: /lib/modules/VERSION).", valueName: "DIR"))
        var modules: String?

        @Flag(help: "Keep the kernel compressed (default: extract it for a PVH boot, which skips the decompressor).")
        var noExtract = false

        func run() throws {
            let minicache = executables.minicachePath()
            guard let kernelPath = kernel ?? VMImage.defaultKernel() else {
                Up.fail("no kernel in /boot: apt-get install linux-image-cloud-amd64, or pass --kernel PATH")
            }
            print("ecdn image vm: minicache \(minicache), kernel \(kernelPath) -> \(out)")
            let start = Date()
            let image: VMImage
            do {
                image = try VMImage.build(
                    VMImage.BuildOptions(minicache: minicache, kernel: kernelPath, modules: modules, strip: !executables.noStrip, extractKernel: !noExtract),
                    into: out
                )
            } catch {
                Up.fail("\(error)")
            }
            let m = image.manifest
            print("kernel:    \(image.kernel)  (\(m.kernelVersion), \(m.kernelFormat))")
            print("initramfs: \(image.initramfs)  (\(String(format: "%.1f", Double(m.initramfsBytes) / 1e6)) MB; modules: \(m.modules.isEmpty ? "none needed" : m.modules.joined(separator: " ")))")
            if !m.staticExecutable {
                print("note: minicache is dynamic, so its loader and libraries are in the initramfs; the static build makes it much smaller")
            }
            print("done in \(String(format: "%.1f", Date().timeIntervalSince(start))) s. Run instances with: ecdn up --backend microvm --vm-image \(image.directory)")
        }
    }
}
