import ArgumentParser
import SHFS

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a web tree: names are relative paths, MIME types from extensions, the top-level index.html is the default.",
        discussion: "Names that start with a dot are skipped, except .well-known. If a file fails, nothing of the import is kept."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Argument(help: "The directory to import.")
    var directory: String

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    @Option(name: .customLong("batch-size"), help: "Sync data and write entries after this much data.")
    var batchSize: ByteCount = ByteCount(argument: "256M")!

    func run() throws {
        let w = try VolumeWriter(path: volume)
        var bar = ProgressBar()
        let start = Output.now()
        var dir = directory
        while dir.count > 1, dir.hasSuffix("/") { dir.removeLast() }
        let summary: ImportSummary
        do {
            summary = try w.importTree(at: dir, batchBytes: batchSize.bytes) { p in if !quiet { bar.update(p) } }
        } catch {
            if !quiet { bar.finish() }
            throw error
        }
        if !quiet { bar.finish() }
        let seconds = Output.now() - start
        if !quiet {
            let rate = Double(summary.bytes) / max(seconds, 1e-6) / 1_048_576
            print("imported \(summary.added.count) files (\(Output.size(summary.bytes))) in \(Double(Int(seconds * 100)) / 100) s, \(Int(rate)) MiB/s; default: \(summary.defaultEntry?.name ?? "none")")
        }
    }
}
