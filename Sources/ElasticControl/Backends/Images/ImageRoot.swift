#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// The root file system of an image: programs at `/NAME`, the shared libraries of a dynamic one
/// where its loader looks, and empty folders. Written as a folder (an OCI runtime bundle's
/// `rootfs`), a tar layer or a cpio initramfs from the same entries.
package struct ImageRoot: Sendable {
    package private(set) var entries: [ArchiveEntry] = []
    /// Whether every program is static (no loader or library in the root).
    package private(set) var isStatic = true
    private var paths: Set<String> = []

    package init() {}

    /// Adds `executable` at `/name`, and its loader and libraries if it is dynamic. With
    /// `strippedIn`, a copy without debug information (`strip --strip-debug`, when the host has
    /// `strip`) made in that folder goes in instead; with `symbols` false as well, a copy
    /// without its symbol table (`strip --strip-all`: a crash report then shows addresses, not
    /// names).
    /// - Throws: ``ControlError`` `imageFailed`.
    package mutating func addProgram(_ name: String, from executable: String, strippedIn scratch: String? = nil, symbols: Bool = true) throws(ControlError) {
        guard access(executable, X_OK) == 0 else {
            throw ControlError(
                .imageFailed,
                "\(executable) is not an executable file; build it (swift build -c release --product minicache --static-swift-stdlib -Xswiftc -static-executable --scratch-path .build-static) or pass its path"
            )
        }
        var libraries: [String] = []
        if let interpreter = ELFFile.interpreter(of: executable) {
            libraries = try SandboxRoot.sharedLibraries(of: executable, interpreter: interpreter)
        }
        var source = executable
        if let scratch { source = try Self.stripped(executable, into: scratch + "/" + name, symbols: symbols) }
        add(ArchiveEntry(name, mode: 0o755, .file(source: source)))
        for library in libraries {
            let resolved = URL(fileURLWithPath: library).resolvingSymlinksInPath().path
            add(ArchiveEntry(String(library.dropFirst()), mode: 0o755, .file(source: resolved)))
        }
        if !libraries.isEmpty { isStatic = false }
    }

    /// Adds an entry, and the folders above it that are missing; a path already present is kept.
    package mutating func add(_ entry: ArchiveEntry) {
        var parent = ""
        for component in entry.path.split(separator: "/").dropLast() {
            parent += parent.isEmpty ? String(component) : "/" + component
            if paths.insert(parent).inserted { entries.append(ArchiveEntry(parent, mode: 0o755, .directory)) }
        }
        if paths.insert(entry.path).inserted { entries.append(entry) }
    }

    /// Writes the root as a folder at `path` (replaced if it exists): files are hard-linked
    /// where the file system allows, else copied.
    /// - Throws: ``ControlError`` `imageFailed`.
    package func materialize(at path: String) throws(ControlError) {
        let files = FileManager.default
        try? files.removeItem(atPath: path)
        do {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true)
            for entry in ArchiveEntry.ordered(entries) {
                let target = path + "/" + entry.path
                switch entry.content {
                case .directory:
                    try files.createDirectory(atPath: target, withIntermediateDirectories: true)
                case .file(let source):
                    // A hard link shares the source's inode, whose mode is not ours to change.
                    if link(source, target) == 0 { continue }
                    try files.copyItem(atPath: source, toPath: target)
                case .bytes(let bytes):
                    guard files.createFile(atPath: target, contents: Data(bytes)) else {
                        throw ControlError(.imageFailed, "cannot create \(target)")
                    }
                case .characterDevice(let major, let minor):
                    // glibc's makedev, for the small numbers of the few nodes an image holds.
                    let device = dev_t(minor & 0xFF) | dev_t(major & 0xFFF) << 8 | dev_t(minor & ~0xFF) << 12
                    guard mknod(target, S_IFCHR | mode_t(entry.mode), device) == 0 else {
                        throw ControlError(.imageFailed, "cannot create the device node \(target): \(String(cString: strerror(errno)))")
                    }
                }
                guard chmod(target, mode_t(entry.mode)) == 0 else {
                    throw ControlError(.imageFailed, "cannot set the mode of \(target): \(String(cString: strerror(errno)))")
                }
            }
        } catch let error as ControlError {
            throw error
        } catch {
            throw ControlError(.imageFailed, "cannot write the root \(path): \(error)", underlying: error)
        }
    }

    /// A copy of `executable` at `destination` without debug information (and without its
    /// symbol table unless `symbols`), or `executable` itself when the host has no `strip`.
    static func stripped(_ executable: String, into destination: String, symbols: Bool = true) throws(ControlError) -> String {
        guard let strip = ImageTools.find("strip") else { return executable }
        try? FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        unlink(destination)
        try ImageTools.run(strip, [symbols ? "--strip-debug" : "--strip-all", "-o", destination, executable])
        return destination
    }
}
