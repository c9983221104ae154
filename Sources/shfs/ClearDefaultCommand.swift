import ArgumentParser
import SHFS

struct ClearDefaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear-default", abstract: "Remove the default flag (/ then serves nothing).")

    @Argument(help: "The volume file or block device.")
    var volume: String

    func run() throws {
        let w = try VolumeWriter(path: volume)
        let n = try w.clearDefault()
        print(n == 0 ? "no default object was set" : "default cleared")
    }
}
