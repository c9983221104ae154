import Foundation
import MiniCacheTesting
import Testing

@testable import MiniCacheServer

/// The `minicache` executable as a child process.
@Suite struct ProcessTests {
    /// The built `minicache`, next to the test bundle.
    static var executable: String? {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("minicache").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func waitForFile(_ path: String, seconds: Double = 20) async throws -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") { return text }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test("SIGTERM: the response in flight completes, new connections are refused, exit status 0", .enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func gracefulShutdownOnSIGTERM() async throws {
        let executable = try #require(ProcessTests.executable)
        let volume = try TestVolume(sizeMiB: 64)
        defer { volume.remove() }
        let content = TestVolume.bytes(16 << 20, seed: 5)
        try volume.add("big.bin", content)
        let ready = volume.directory + "/ready"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", volume.path, "--listen", "127.0.0.1:0", "--admin", "off", "--ready-file", ready, "--threads", "1"]
        let log = Pipe()
        process.standardError = log
        try process.run()
        defer { if process.isRunning { process.interrupt() } }
        let url = try #require(try await Self.waitForFile(ready), "minicache did not write its ready file")
        let port = try #require(Int(url.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last!.dropLast()))

        let download = try await TestConnection(port: port)
        await download.send("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        var received = await download.receiveRaw(max: 65536)
        #expect(!received.isEmpty)
        process.terminate()
        // Once the signal is handled, new connections are refused while the response goes on.
        var refused = false
        for _ in 0..<500 where !refused {
            refused = (try? await TestConnection(port: port)) == nil
            if !refused { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(refused)
        while true {
            let more = await download.receiveRaw(max: 1 << 20)
            if more.isEmpty { break }
            received += more
        }
        let headEnd = try #require(TestConnection.find([13, 10, 13, 10], in: Array(received.prefix(1024))))
        #expect(received.count - headEnd - 4 == content.count)
        #expect(Array(received[(headEnd + 4)...]) == content)
        #expect(await process.exited() == 0)
        #expect(process.terminationReason == .exit)
        let output = String(decoding: await log.fileHandleForReading.readToEndOfFile(), as: UTF8.self)
        #expect(output.contains("serving http://127.0.0.1:\(port)/"))
        #expect(output.contains("startup.ms="))
        #expect(!FileManager.default.fileExists(atPath: ready))
    }

    @Test(.enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func aMissingVolumeIsAClearErrorWithExitStatus1() async throws {
        let executable = try #require(ProcessTests.executable)
        let run = try await ProcessRun.run(executable, ["serve", "/nonexistent/volume.shfs", "--listen", "127.0.0.1:0", "--admin", "off"], mergingErrors: true)
        #expect(run.status == 1)
        #expect(run.output.contains("/nonexistent/volume.shfs"))
    }
}
