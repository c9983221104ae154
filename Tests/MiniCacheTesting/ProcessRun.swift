import Foundation
import Synchronization

/// A child process run to its end: how it exited and what it printed.
public struct ProcessRun: Sendable {
    /// The exit status (or the signal's number when it was killed).
    public var status: Int32
    /// Standard output as bytes; with `mergingErrors`, standard error too, interleaved.
    public var standardOutput: [UInt8]
    /// Standard error (empty with `mergingErrors`).
    public var error: String

    /// Standard output as text.
    public var output: String { String(decoding: standardOutput, as: UTF8.self) }

    /// Runs `executable` with `arguments` until it exits. Standard input is `input` (or empty);
    /// both output streams are read while the child runs, so a chatty child never blocks on a
    /// full pipe.
    /// - Parameter mergingErrors: standard error goes to the same pipe as standard output.
    /// The child is waited for on ``BlockingWork``'s threads, never on a cooperative one.
    /// - Throws: what `Process.run()` throws when the executable cannot be started.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8]? = nil, mergingErrors: Bool = false) async throws -> ProcessRun {
        try await BlockingWork.run {
            try self.runBlocking(executable, arguments, input: input, mergingErrors: mergingErrors)
        }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], input: [UInt8]?, mergingErrors: Bool) throws -> ProcessRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = mergingErrors ? output : errors
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        let errorText = Mutex<Data>(Data())
        let errorsRead = DispatchSemaphore(value: 0)
        if mergingErrors {
            errorsRead.signal()
        } else {
            Thread.detachNewThread {
                let data = errors.fileHandleForReading.readDataToEndOfFile()
                errorText.withLock { $0 = data }
                errorsRead.signal()
            }
        }
        if let input {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        errorsRead.wait()
        process.waitUntilExit()
        return ProcessRun(
            status: process.terminationStatus, standardOutput: [UInt8](data), error: String(decoding: errorText.withLock { $0 }, as: UTF8.self)
        )
    }
}
