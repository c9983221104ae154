#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import Foundation
import SHFS

/// An image `ecdn image oci` wrote, in one folder:
///
/// - `image/`: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`: a manifest, a
///   configuration and one layer holding `/minicache`) that podman, skopeo, containerd and
///   Kubernetes run unchanged;
/// - `bundle/`: an OCI runtime bundle of the same root (`config.json`, `rootfs/`, and `data/`
///   with an empty volume) for `runc run` by hand; the `oci` backend runs its instances on this
///   `rootfs`.
public struct OCIImage: Sendable, Equatable {
    public let directory: String
    /// `sha256:<hex>` of the manifest (what `podman images --digests` shows).
    public let manifestDigest: String
    /// Whether the root holds only static programs (no loader or shared library).
    public let isStatic: Bool

    /// The OCI image layout.
    public var layout: String { directory + "/image" }
    /// The runtime bundle.
    public var bundle: String { directory + "/bundle" }
    /// The root file system instances run in.
    public var rootfs: String { bundle + "/rootfs" }

    /// What goes into an image.
    public struct BuildOptions: Sendable {
        /// The `minicache` executable (best: the static build).
        public var minicache: String
        /// The `shfs` executable, for formatting a volume in a container (Kubernetes init
        /// container); nil leaves it out.
        public var shfs: String?
        /// The name of the manifest in `index.json` (`oci:DIR/image:TAG`). Default `latest`.
        public var tag: String
        /// Leave debug information out of the executables (`strip --strip-debug`). Default true.
        public var strip: Bool
        /// Compress the layer with gzip (when the host has `gzip`). Default true.
        public var compress: Bool
        /// Size of the empty volume in the bundle's `data/`. Default 64 MiB (a sparse file).
        public var volumeSize: Int64

        public init(minicache: String, shfs: String? = nil, tag: String = "latest", strip: Bool = true, compress: Bool = true, volumeSize: Int64 = 64 << 20) {
            self.minicache = minicache
            self.shfs = shfs
            self.tag = tag
            self.strip = strip
            self.compress = compress
            self.volumeSize = volumeSize
        }
    }

    /// The command the image runs by default: serve `/data/volume.shfs` on port 8080, admin API
    /// on 127.0.0.1:9080 inside the container.
    public static let defaultCommand = ["serve", "/data/volume.shfs", "--listen", "0.0.0.0:8080"]
    /// The user the image runs as (nobody): `minicache` needs no privilege.
    public static let user: (uid: UInt32, gid: UInt32) = (65534, 65534)

    /// Writes an image into `directory` (created; what was there under `image/` and `bundle/`
    /// is replaced).
    /// - Throws: ``ControlError`` `imageFailed` with what failed.
    public static func build(_ options: BuildOptions, into directory: String) throws(ControlError) -> OCIImage {
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        let scratch = directory + "/.scratch"
        let files = FileManager.default
        defer { try? files.removeItem(atPath: scratch) }
        var root = ImageRoot()
        try root.addProgram("minicache", from: options.minicache, strippedIn: options.strip ? scratch : nil)
        if let shfs = options.shfs { try root.addProgram("shfs", from: shfs, strippedIn: options.strip ? scratch : nil) }
        for folder in ["data", "dev", "proc", "sys", "etc"] {
            root.add(ArchiveEntry(folder, mode: folder == "data" ? 0o777 : 0o755, .directory))
        }
        // Mount points of the engine's name-resolution files, so a read-only root needs no new file.
        for file in ["etc/hosts", "etc/resolv.conf"] { root.add(ArchiveEntry(file, mode: 0o644, .bytes([]))) }

        let layout = directory + "/image"
        let blobs = layout + "/blobs/sha256"
        do {
            for path in [layout, directory + "/bundle"] { try? files.removeItem(atPath: path) }
            for path in [blobs, scratch, directory + "/bundle/data"] { try files.createDirectory(atPath: path, withIntermediateDirectories: true) }
        } catch {
            throw ControlError(.imageFailed, "cannot create \(directory): \(error)", underlying: error)
        }

        // The layer: a tar of the root; its digest before compression is the configuration's diff ID.
        let tar = try ArchiveFile(creating: scratch + "/layer.tar")
        try TarWriter().write(root.entries, to: tar)
        let diffID = "sha256:" + (try tar.finish())
        var layerPath = tar.path
        var layerType = OCIImageSchema.layerTarMediaType
        if options.compress, let gzip = ImageTools.find("gzip") {
            try ImageTools.run(gzip, ["-n", "-f", tar.path])
            layerPath = tar.path + ".gz"
            layerType = OCIImageSchema.layerGzipMediaType
        }
        let layer = try addBlob(file: layerPath, to: blobs, mediaType: layerType)

        let architecture = Self.architecture
        let configuration = OCIImageSchema.Configuration(
            architecture: architecture, os: "linux",
            config: OCIImageSchema.RunConfiguration(
                user: "\(user.uid):\(user.gid)", entrypoint: ["/minicache"], cmd: defaultCommand, env: ["PATH=/"], workingDir: "/",
                exposedPorts: ["8080/tcp": .init()], volumes: ["/data": .init()],
                labels: [
                    "org.opencontainers.image.title": "minicache",
                    "org.opencontainers.image.description": "MiniCache: a tiny, fast content cache (HTTP/1.1, SHFS volumes, RFC 9111 pull-through)",
                ]
            ),
            rootfs: OCIImageSchema.RootFS(diffIDs: [diffID]),
            history: [OCIImageSchema.History(createdBy: "ecdn image oci", comment: root.isStatic ? "static executables" : "dynamic executables and their libraries")]
        )
        let config = try addBlob(json: configuration, to: blobs, mediaType: OCIImageSchema.configMediaType)
        let manifest = try addBlob(
            json: OCIImageSchema.Manifest(config: config, layers: [layer], annotations: ["org.opencontainers.image.title": "minicache"]),
            to: blobs, mediaType: OCIImageSchema.manifestMediaType
        )
        var entry = manifest
        entry.platform = OCIImageSchema.Platform(architecture: architecture, os: "linux")
        entry.annotations = [OCIImageSchema.refName: options.tag]
        try writeJSON(OCIImageSchema.Index(manifests: [entry]), to: layout + "/index.json")
        try writeJSON(OCIImageSchema.Layout(), to: layout + "/oci-layout")

        try root.materialize(at: directory + "/bundle/rootfs")
        var bundleOptions = OCIRuntimeSpec.Options(arguments: ["/minicache"] + defaultCommand)
        bundleOptions.dataDirectory = "data"
        bundleOptions.network = .host
        try writeJSON(OCIRuntimeSpec(bundleOptions), to: directory + "/bundle/config.json")
        let volume = directory + "/bundle/data/volume.shfs"
        do {
            try Volume.format(path: volume, options: FormatOptions(size: options.volumeSize, name: "minicache", force: true))
        } catch {
            throw ControlError(.imageFailed, "cannot create the bundle's volume \(volume): \(error)", underlying: error)
        }
        _ = chown(directory + "/bundle/data", user.uid, user.gid)
        _ = chown(volume, user.uid, user.gid)
        return OCIImage(directory: directory, manifestDigest: manifest.digest, isStatic: root.isStatic)
    }

    /// An image written earlier.
    /// - Throws: ``ControlError`` `imageFailed` when `directory` holds no complete image.
    public static func open(_ directory: String) throws(ControlError) -> OCIImage {
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        let index: OCIImageSchema.Index
        do {
            index = try JSONDecoder().decode(OCIImageSchema.Index.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/image/index.json")))
        } catch {
            throw ControlError(.imageFailed, "\(directory) holds no OCI image (\(error)); write one with `ecdn image oci --out \(directory)`", underlying: error)
        }
        guard let manifest = index.manifests.first else { throw ControlError(.imageFailed, "\(directory)/image/index.json lists no manifest") }
        let executable = directory + "/bundle/rootfs/minicache"
        guard access(executable, X_OK) == 0 else {
            throw ControlError(.imageFailed, "\(directory) has no runtime bundle (\(executable) is missing); write it again with `ecdn image oci --out \(directory)`")
        }
        let isStatic = ELFFile.interpreter(of: executable) == nil
        return OCIImage(directory: directory, manifestDigest: manifest.digest, isStatic: isStatic)
    }

    /// The OCI name of this machine's architecture.
    static var architecture: String {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch machine {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        default: return machine
        }
    }

    private static func addBlob(file: String, to blobs: String, mediaType: String) throws(ControlError) -> OCIImageSchema.Descriptor {
        let input = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ControlError(.imageFailed, "cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        var hash = SHA256()
        var size: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { throw ControlError(.imageFailed, "cannot read \(file): \(String(cString: strerror(errno)))") }
            if got == 0 { break }
            hash.update(data: chunk[0..<got])
            size += Int64(got)
        }
        let hex = hash.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        guard rename(file, blobs + "/" + hex) == 0 else {
            throw ControlError(.imageFailed, "cannot move \(file) into \(blobs): \(String(cString: strerror(errno)))")
        }
        return OCIImageSchema.Descriptor(mediaType: mediaType, digest: "sha256:" + hex, size: size)
    }

    private static func addBlob(json value: some Encodable, to blobs: String, mediaType: String) throws(ControlError) -> OCIImageSchema.Descriptor {
        let bytes = try encode(value)
        let hex = SHA256.hash(data: bytes).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        try write(bytes, to: blobs + "/" + hex)
        return OCIImageSchema.Descriptor(mediaType: mediaType, digest: "sha256:" + hex, size: Int64(bytes.count))
    }

    static func writeJSON(_ value: some Encodable, to path: String) throws(ControlError) {
        try write(try encode(value), to: path)
    }

    static func encode(_ value: some Encodable) throws(ControlError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch {
            throw ControlError(.imageFailed, "cannot encode \(type(of: value)): \(error)", underlying: error)
        }
    }

    private static func write(_ bytes: Data, to path: String) throws(ControlError) {
        do {
            try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ControlError(.imageFailed, "cannot write \(path): \(error)", underlying: error)
        }
    }
}
