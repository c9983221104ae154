import ArgumentParser

/// `shfs`: make, inspect, check and fill SHFS 2.01 volumes.
@main
struct SHFSTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shfs",
        abstract: "Make, inspect, check and fill SHFS 2.01 volumes (the MiniCache object store).",
        discussion: """
            The volume (a file or a block device) is the first argument of every subcommand. \
            Objects are addressed by their hex digest or by their name.
            """,
        subcommands: [
            MkfsCommand.self, InfoCommand.self, FsckCommand.self, LsCommand.self, CatCommand.self,
            AddCommand.self, AddLinkCommand.self, RmCommand.self, RenameCommand.self,
            SetDefaultCommand.self, ClearDefaultCommand.self, ImportCommand.self, ExportCommand.self,
            BenchCommand.self,
        ]
    )
}
