import ArgumentParser
import SHFS

struct RmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove objects or links by digest or name.")

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "Hex digests or names.")
    var objects: [String]

    func validate() throws {
        guard !objects.isEmpty else { throw ValidationError("give the digest or name of what to remove") }
    }

    func run() throws {
        let w = try VolumeWriter(path: volume)
        let entries = try objects.map { (o) throws(SHFSError) in try w.requireEntry(o) }
        for e in entries {
            try w.remove(e)
            print("removed \(e.hexDigest)  \(e.name)")
        }
    }
}
