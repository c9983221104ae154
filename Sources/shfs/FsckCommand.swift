import ArgumentParser
import SHFS

struct FsckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Check a volume: headers, bucket placement, extents, overlaps, flags; optionally digests; repair.",
        discussion: "Exits with status 1 when errors remain."
    )

    @Argument(help: "The volume file or block device.")
    var volume: String

    @Flag(name: .customLong("verify"), help: "Also hash every object and compare with its digest.")
    var verify = false

    @Flag(name: .customLong("repair"), help: "Restore bad entries from the backup table (clear those it cannot restore) and resync the backup.")
    var repair = false

    func run() throws {
        let r = try VolumeCheck.run(path: volume, options: .init(verifyDigests: verify, repair: repair))
        for p in r.problems {
            print("\(p.severity == .error ? "error" : "warning"): \(p.message)")
        }
        for line in r.repairs { print("repaired: \(line)") }
        let errors = r.problems.filter { $0.severity == .error }.count
        let warnings = r.problems.count - errors
        var summary = "\(volume): \(r.entryCount) entries, \(errors) errors, \(warnings) warnings"
        if verify { summary += ", \(r.digestsVerified) digests verified" }
        if repair { summary += ", \(r.repairs.count) repairs" }
        print(summary + (r.remainingErrors == 0 ? ": clean" : ": NOT clean"))
        if r.remainingErrors > 0 {
            Output.error("shfs: \(volume) has \(r.remainingErrors) errors\(repair ? "" : "; run `shfs fsck --repair \(volume)` to fix what can be fixed")")
            throw ExitCode(1)
        }
    }
}
