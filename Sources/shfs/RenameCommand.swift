import ArgumentParser
import SHFS

struct RenameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rename", abstract: "Give an object or link a new name.")

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "The hex digest or current name.")
    var object: String

    @Argument(help: "The new name (at most 64 bytes).")
    var newName: String

    func run() throws {
        let w = try VolumeWriter(path: volume)
        let e = try w.rename(try w.requireEntry(object), to: newName)
        print("\(e.hexDigest)  \(e.name)")
    }
}
