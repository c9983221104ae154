#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import SHFS
import SystemPackage

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every object to a directory, as files named by the object names (or digests).",
        discussion: "Links have no content and are listed, not written."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "The directory to write to (created if needed).")
    var directory: String

    @Flag(name: .shortAndLong, help: "Overwrite existing files.")
    var force = false

    func run() throws {
        let v = try Volume(path: volume)
        try FileTree.makeDirectories(directory)
        var files = 0, links = 0
        var bytes: Int64 = 0
        for e in v.entries {
            guard let x = e.extent else {
                links += 1
                print("link  \(e.name.isEmpty ? e.hexDigest : e.name) -> \(e.link!.url)")
                continue
            }
            let rel = e.name.isEmpty ? e.hexDigest : e.name
            let parts = rel.split(separator: "/", omittingEmptySubsequences: false)
            guard !rel.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) else {
                throw SHFSError(.invalidArgument, "\(volume): the name '\(rel)' of slot \(e.slot) is not a safe relative path; nothing more was exported")
            }
            if parts.count > 1 { try FileTree.makeDirectories(directory + "/" + parts.dropLast().joined(separator: "/")) }
            let target = "\(directory)/\(rel)"
            let fd: FileDescriptor
            do {
                fd = try FileDescriptor.open(FilePath(target), .writeOnly, options: force ? [.create, .truncate, .closeOnExec] : [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            } catch {
                throw SHFSError(.io, "cannot create \(target): \(error)\(force ? "" : " (add --force to overwrite)")")
            }
            defer { try? fd.close() }
            try v.forEachBlock(of: x) { (block) throws(SHFSError) in
                do { _ = try fd.writeAll(block) } catch { throw SHFSError(.io, "cannot write \(target): \(error)") }
            }
            files += 1
            bytes += x.length
        }
        print("exported \(files) objects (\(Output.size(bytes))) to \(directory)\(links > 0 ? ", \(links) links listed" : "")")
    }
}
