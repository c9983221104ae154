#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// The host programs the image builders and backends call (`strip`, `gzip`, `cc`, `ip`) and how
/// they are run.
package enum ImageTools {
    /// The first executable called `name` on `PATH` (or in /usr/sbin and /sbin, which a user's
    /// `PATH` may lack), or nil.
    package static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs `program` with `arguments` and returns what it printed (standard output and error
    /// together, or only standard error when `standardOutput` names a file to write instead).
    /// - Throws: ``ControlError`` with `code` (default `imageFailed`) and the program's own
    ///   message when it fails.
    @discardableResult
    package static func run(
        _ program: String, _ arguments: [String], standardInput: String? = nil, standardOutput: String? = nil, code: ControlError.Code = .imageFailed
    ) throws(ControlError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        let input = standardInput.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice
        if let standardOutput {
            guard FileManager.default.createFile(atPath: standardOutput, contents: nil),
                  let handle = FileHandle(forWritingAtPath: standardOutput) else {
                throw ControlError(code, "cannot create \(standardOutput)")
            }
            process.standardOutput = handle
        } else {
            process.standardOutput = pipe
        }
        do {
            try process.run()
        } catch {
            throw ControlError(code, "cannot run \(program): \(error)", underlying: error)
        }
        if let input, let standardInput {
            input.fileHandleForWriting.write(Data(standardInput.utf8))
            try? input.fileHandleForWriting.close()
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ControlError(code, "\(([program] + arguments).joined(separator: " ")) failed: \(trimmed.isEmpty ? "status \(process.terminationStatus)" : trimmed)")
        }
        return output
    }

    /// Writes `bytes` to a new file at `path` (replacing one that is there).
    /// - Throws: ``ControlError`` `imageFailed`.
    package static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(ControlError) {
        let file = try ArchiveFile(creating: path, mode: mode)
        try file.write(bytes)
        _ = try file.finish()
    }
}
