import ArgumentParser
import SHFS
import SystemPackage

struct CatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat", abstract: "Write an object's content to standard output.")

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "The object's hex digest or name.")
    var object: String

    func run() throws {
        let v = try Volume(path: volume)
        guard let e = v.entry(digestOrName: object) else {
            throw SHFSError(.notFound, "\(volume): no object with digest or name '\(object)'; list them with `shfs ls \(volume)`")
        }
        guard let x = e.extent else {
            throw SHFSError(.invalidArgument, "\(volume): '\(object)' is a link to \(e.link!.url), it has no local content")
        }
        try v.forEachBlock(of: x) { (block) throws(SHFSError) in
            do { _ = try FileDescriptor.standardOutput.writeAll(block) } catch {
                throw SHFSError(.io, "cannot write to standard output: \(error)")
            }
        }
    }
}
