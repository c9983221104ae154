import ArgumentParser
import SHFS
import SystemPackage

struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add files (or standard input, `-`) as objects.",
        discussion: "The digest is the SHA-256 of the content unless --digest gives one. If one file fails, none is added."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "Files to add; `-` reads standard input.")
    var files: [String]

    @Option(name: .shortAndLong, help: "Object name (one file only; default: the file's name, none for stdin).")
    var name: String?

    @Option(name: .shortAndLong, help: "MIME type (default: from the file's extension).")
    var mime: String?

    @Option(name: .shortAndLong, help: "Content-Encoding of pre-encoded content, e.g. gzip.")
    var encoding: String = ""

    @Option(name: .shortAndLong, help: "Hex digest to store instead of the SHA-256 of the content (one file only).")
    var digest: String?

    @Flag(help: "Hide the objects from listings.")
    var hidden = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one file, or - for standard input") }
        if files.count > 1, name != nil || digest != nil {
            throw ValidationError("--name and --digest apply to a single file")
        }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be added once") }
    }

    func run() throws {
        let w = try VolumeWriter(path: volume)
        let digestBytes = try digest.map { (hex) throws(SHFSError) in try w.digest(fromHex: hex) }
        var added: [Entry] = []
        do {
            for file in files {
                let objectName = name ?? (file == "-" ? "" : String(file.split(separator: "/").last ?? ""))
                let options = ObjectOptions(name: objectName, mimeType: mime ?? (file == "-" ? "" : MIMETypes.forFileName(file)), encoding: encoding, digest: digestBytes, hidden: hidden)
                if file == "-" {
                    added.append(try w.stage(from: .standardInput, length: nil, options: options))
                    continue
                }
                let fd: FileDescriptor
                do { fd = try FileDescriptor.open(FilePath(file), .readOnly, options: [.closeOnExec]) } catch {
                    throw SHFSError(.io, "cannot open \(file): \(error)")
                }
                defer { try? fd.close() }
                let size = try? fd.seek(offset: 0, from: .end)
                _ = try? fd.seek(offset: 0, from: .start)
                do {
                    added.append(try w.stage(from: fd, length: size, options: options))
                } catch {
                    throw SHFSError(error.code, files.count > 1 ? "\(file): \(error.message)" : error.message)
                }
            }
            try w.commit()
        } catch {
            w.discardStaged()
            throw error
        }
        for e in added {
            print("\(e.hexDigest)  \(Output.size(e.extent?.length ?? 0))  \(e.name)")
        }
    }
}
