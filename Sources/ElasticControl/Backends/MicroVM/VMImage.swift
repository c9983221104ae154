#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// An image `ecdn image vm` wrote, in one folder:
///
/// - `kernel`: the host's kernel, as an uncompressed ELF `vmlinux` that QEMU starts at its PVH
///   entry point when the kernel has one (no decompressor: seconds saved under TCG), else the
///   `vmlinuz` itself;
/// - `initramfs.cpio` (newc, uncompressed): `/init` (``VMInit``), `/minicache`, the virtio
///   modules the kernel needs (`/modules/N.ko`, in load order) and `/dev/console`;
/// - `vm.json`: what was put in and from where.
public struct VMImage: Sendable, Equatable {
    public let directory: String
    /// What the image was built from.
    public let manifest: Manifest

    public var kernel: String { directory + "/kernel" }
    public var initramfs: String { directory + "/initramfs.cpio" }

    /// `vm.json`.
    public struct Manifest: Codable, Sendable, Equatable {
        /// The host kernel file it came from.
        public var kernelSource: String
        /// `uname -r` of that kernel (`6.1.0-57-cloud-amd64`).
        public var kernelVersion: String
        /// `pvh` (an ELF started at its PVH entry) or `bzImage`.
        public var kernelFormat: String
        /// Modules in the initramfs, in load order (names as in `modules.dep`).
        public var modules: [String]
        /// Whether `minicache` is static (otherwise its loader and libraries are in the initramfs).
        public var staticExecutable: Bool
        /// Bytes of the initramfs.
        public var initramfsBytes: Int64
    }

    /// Guest memory, in MiB, below which the kernel is not expected to unpack this image's
    /// initramfs: the kernel and its tables, and the archive twice (the loaded copy and the
    /// unpacked files, until the copy is freed).
    public var minimumMemoryMiB: Int {
        Self.roundedUp(Self.kernelMiB + 2 * Int((manifest.initramfsBytes + (1 << 20) - 1) >> 20))
    }

    /// Guest memory, in MiB, a guest of this image boots and serves in: ``minimumMemoryMiB`` and
    /// what `minicache` needs on top of its files (its runtime and the object cache
    /// `--memory-budget` gives it, a quarter of the guest's memory).
    public var guestMemoryMiB: Int { Self.roundedUp(minimumMemoryMiB + Self.minicacheMiB) }

    /// The kernel's own share of a guest's memory at boot (its image, page tables and
    /// early allocations), measured with Debian's 6.1 cloud kernel.
    static let kernelMiB = 96
    /// What `minicache` needs in a guest besides its executable.
    static let minicacheMiB = 64

    private static func roundedUp(_ mib: Int) -> Int { (mib + 15) / 16 * 16 }

    /// What goes into an image.
    public struct BuildOptions: Sendable {
        /// The `minicache` executable (best: the static build).
        public var minicache: String
        /// The kernel; nil: ``defaultKernel()``.
        public var kernel: String?
        /// Where the kernel's modules are (`/lib/modules/VERSION`); nil: derived from the kernel's name.
        public var modules: String?
        /// Leave debug information and the symbol table out of `minicache` (`strip --strip-all`):
        /// every guest holds the initramfs in its memory twice while the kernel unpacks it, and
        /// the symbol table of the static build is a third of its size. Default true.
        public var strip: Bool
        /// Extract the uncompressed kernel for a PVH boot when the kernel supports it. Default true.
        public var extractKernel: Bool

        public init(minicache: String, kernel: String? = nil, modules: String? = nil, strip: Bool = true, extractKernel: Bool = true) {
            self.minicache = minicache
            self.kernel = kernel
            self.modules = modules
            self.strip = strip
            self.extractKernel = extractKernel
        }
    }

    /// Drivers the VM needs: the virtio-mmio transport of QEMU's `microvm` machine, the disk and
    /// the network card. Built in or loaded from the initramfs.
    public static let requiredDrivers = ["virtio_mmio", "virtio_blk", "virtio_net"]

    /// The smallest kernel in /boot (Debian's `-cloud-amd64` flavour when installed), or nil.
    public static func defaultKernel(boot: String = "/boot") -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: boot)) ?? []
        return names.filter { $0.hasPrefix("vmlinuz-") }
            .map { boot + "/" + $0 }
            .min { (try? TarWriter.size(of: $0)) ?? .max < (try? TarWriter.size(of: $1)) ?? .max }
    }

    /// Writes an image into `directory` (created; its `kernel`, `initramfs.cpio` and `vm.json` are replaced).
    /// - Throws: ``ControlError`` `imageFailed` with what failed and what to do.
    public static func build(_ options: BuildOptions, into directory: String) throws(ControlError) -> VMImage {
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        guard let kernel = options.kernel ?? defaultKernel() else {
            throw ControlError(.imageFailed, "no kernel in /boot: install one (apt-get install linux-image-cloud-amd64) or pass --kernel PATH")
        }
        guard access(kernel, R_OK) == 0 else { throw ControlError(.imageFailed, "cannot read the kernel \(kernel)") }
        let version = kernelVersion(of: kernel)
        let modulesDirectory = options.modules ?? "/lib/modules/\(version)"
        let scratch = directory + "/.scratch"
        let files = FileManager.default
        defer { try? files.removeItem(atPath: scratch) }
        do {
            try files.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } catch {
            throw ControlError(.imageFailed, "cannot create \(directory): \(error)", underlying: error)
        }

        var root = ImageRoot()
        try VMInit.build(into: scratch + "/init", scratch: scratch)
        root.add(ArchiveEntry("init", mode: 0o755, .file(source: scratch + "/init")))
        try root.addProgram("minicache", from: options.minicache, strippedIn: options.strip ? scratch : nil, symbols: false)
        for folder in ["dev", "proc", "sys", "data", "etc"] { root.add(ArchiveEntry(folder, mode: 0o755, .directory)) }
        // The kernel opens it for init's standard input and output before devtmpfs is mounted.
        root.add(ArchiveEntry("dev/console", mode: 0o600, .characterDevice(major: 5, minor: 1)))
        let modules = try KernelModules(directory: modulesDirectory, kernel: kernel).loadOrder(for: requiredDrivers)
        for (index, module) in modules.enumerated() {
            root.add(ArchiveEntry("modules/\(index).ko", mode: 0o644, .file(source: try module.plainFile(scratch: scratch))))
        }

        let initramfs = try ArchiveFile(creating: directory + "/initramfs.cpio.partial")
        try CPIOWriter().write(root.entries, to: initramfs)
        _ = try initramfs.finish()
        let format = try placeKernel(kernel, version: version, modules: modulesDirectory, extract: options.extractKernel, at: directory + "/kernel", scratch: scratch)
        guard rename(initramfs.path, directory + "/initramfs.cpio") == 0 else {
            throw ControlError(.imageFailed, "cannot write \(directory)/initramfs.cpio: \(String(cString: strerror(errno)))")
        }
        let manifest = Manifest(
            kernelSource: kernel, kernelVersion: version, kernelFormat: format, modules: modules.map(\.name),
            staticExecutable: root.isStatic, initramfsBytes: initramfs.count
        )
        try OCIImage.writeJSON(manifest, to: directory + "/vm.json")
        return VMImage(directory: directory, manifest: manifest)
    }

    /// An image written earlier.
    /// - Throws: ``ControlError`` `imageFailed` when `directory` holds no complete image.
    public static func open(_ directory: String) throws(ControlError) -> VMImage {
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/vm.json")))
        } catch {
            throw ControlError(.imageFailed, "\(directory) holds no VM image (\(error)); write one with `ecdn image vm --out \(directory)`", underlying: error)
        }
        for file in ["kernel", "initramfs.cpio"] where access(directory + "/" + file, R_OK) != 0 {
            throw ControlError(.imageFailed, "\(directory)/\(file) is missing; write the image again with `ecdn image vm --out \(directory)`")
        }
        return VMImage(directory: directory, manifest: manifest)
    }

    /// `6.1.0-57-cloud-amd64` for `/boot/vmlinuz-6.1.0-57-cloud-amd64`; else the running kernel's release.
    static func kernelVersion(of kernel: String) -> String {
        let name = (kernel as NSString).lastPathComponent
        if name.hasPrefix("vmlinuz-") { return String(name.dropFirst("vmlinuz-".count)) }
        var system = utsname()
        uname(&system)
        return withUnsafeBytes(of: system.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Puts the kernel at `destination`: the uncompressed ELF when the kernel can start from it
    /// (`CONFIG_PVH=y`) and it can be extracted, else the file itself. Returns the format.
    private static func placeKernel(
        _ kernel: String, version: String, modules: String, extract: Bool, at destination: String, scratch: String
    ) throws(ControlError) -> String {
        unlink(destination)
        let config = (try? String(contentsOfFile: "/boot/config-\(version)", encoding: .utf8)) ?? (try? String(contentsOfFile: modules + "/build/.config", encoding: .utf8)) ?? ""
        if extract, config.contains("\nCONFIG_PVH=y"), let elf = BzImage.extractELF(kernel, scratch: scratch), rename(elf, destination) == 0 {
            return "pvh"
        }
        if link(kernel, destination) != 0 {
            do {
                try FileManager.default.copyItem(atPath: kernel, toPath: destination)
            } catch {
                throw ControlError(.imageFailed, "cannot copy the kernel \(kernel): \(error)", underlying: error)
            }
        }
        return "bzImage"
    }
}
