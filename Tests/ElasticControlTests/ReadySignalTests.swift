@testable import ElasticControl
import Foundation
import Synchronization
import HTTPToolkit
import Testing

/// The ready signal: a waiter wakes when the file it waits for is written, and only then (or at
/// its timeout, or when the directory goes).
@Suite(.enabled(if: ReadySignal.shared != nil, "this kernel has no inotify"))
struct ReadySignalTests {
    final class Woken: Sendable {
        let flag = Atomic<Bool>(false)
    }

    @Test func aWaiterWakesWhenItsFileIsWrittenNotForAnotherFile() async throws {
        let directory = TestEnvironment.temporaryDirectory("ready-signal")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let signal = try #require(ReadySignal.shared)
        let start = HTTPDate.monotonic()
        let woken = Woken()
        let waiter = Task {
            await signal.wait(for: directory + "/ready", timeout: 60)
            woken.flag.store(true, ordering: .releasing)
        }
        // Another file in the same directory does not wake it; its own does.
        try await Task.sleep(for: .milliseconds(50))
        #expect(FileManager.default.createFile(atPath: directory + "/other", contents: Data()))
        try await Task.sleep(for: .milliseconds(100))
        let wokenEarly = woken.flag.load(ordering: .acquiring)
        #expect(!wokenEarly)
        #expect(FileManager.default.createFile(atPath: directory + "/ready", contents: Data("http://x\n".utf8)))
        await waiter.value
        // Far inside the 60 s timeout: the write woke it (a generous margin for a loaded host).
        #expect(HTTPDate.monotonic() - start < 30)
        #expect(FileManager.default.fileExists(atPath: directory + "/ready"))
        // A file that is already there returns at once; a missing one at the timeout.
        await signal.wait(for: directory + "/ready", timeout: 60)
        await signal.wait(for: directory + "/never", timeout: 0.02)
        #expect(!FileManager.default.fileExists(atPath: directory + "/never"))
    }

    @Test func waitersWakeWhenTheirDirectoryIsRemoved() async throws {
        let directory = TestEnvironment.temporaryDirectory("ready-signal-gone")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let signal = try #require(ReadySignal.shared)
        let start = HTTPDate.monotonic()
        let waiter = Task { await signal.wait(for: directory + "/ready", timeout: 60) }
        try await Task.sleep(for: .milliseconds(50))
        try FileManager.default.removeItem(atPath: directory)
        await waiter.value
        #expect(HTTPDate.monotonic() - start < 30)
    }
}
