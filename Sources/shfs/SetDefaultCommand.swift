import ArgumentParser
import SHFS

struct SetDefaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set-default", abstract: "Make an object the default (served for /).")

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "The hex digest or name.")
    var object: String

    func run() throws {
        let w = try VolumeWriter(path: volume)
        let e = try w.setDefault(try w.requireEntry(object))
        print("default: \(e.hexDigest)  \(e.name)")
    }
}
