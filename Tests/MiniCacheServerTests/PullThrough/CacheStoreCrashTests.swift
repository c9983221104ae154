import Foundation
import MiniCacheTesting
import NIOPosix
import SHFS
import Synchronization
import Testing

@testable import MiniCacheServer

/// A real `minicache serve --origin` child process killed with SIGKILL while it fills.
struct CacheStoreCrashTests {
    /// The origin's body for a path: deterministic text of a size that depends on the path.
    static func body(_ path: String) -> String {
        let index = Int(path.split(separator: "/").last ?? "") ?? 0
        let size = 2_000 + (index * 37_003) % 300_000
        var text = String(repeating: "\(path)|", count: size / (path.utf8.count + 1))
        text += String(repeating: "#", count: size - text.utf8.count)
        return text
    }

    static func startServer(_ executable: String, volume: TestVolume, origin: Int, name: String) async throws -> (Process, Int) {
        let ready = volume.directory + "/\(name).ready"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "serve", volume.path, "--origin", "http://127.0.0.1:\(origin)", "--listen", "127.0.0.1:0", "--admin", "off",
            "--ready-file", ready, "--threads", "2", "--log-level", "error",
        ]
        try process.run()
        let url = try #require(try await ProcessTests.waitForFile(ready), "minicache did not write its ready file")
        let port = try #require(Int(url.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last!.dropLast()))
        return (process, port)
    }

    /// Entries committed to the volume so far, read as another process would.
    static func storedObjects(_ volume: TestVolume) -> Int {
        (try? Volume(path: volume.path))?.entries.count ?? 0
    }

    @Test("kill -9 during fills, then a restart on the same volume: every cached object served matches the origin's bytes", .enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func killDuringFills() async throws {
        let executable = try #require(ProcessTests.executable)
        let origin = try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { request, _ in
            let path = request.path
            return [.send(TestOrigin.response(body: Self.body(path), headers: ["Cache-Control: max-age=3600"]))]
        }
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let paths = (0..<400).map { "/fill/\($0)" }
        let (first, port) = try await Self.startServer(executable, volume: volume, origin: origin.port, name: "first")
        let stop = SharedCounter()
        let completed = SharedCounter()
        for worker in 0..<4 {
            Task {
                var i = worker
                while stop.value == 0 {
                    if let response = try? await TestConnection.get(port: port, paths[i % paths.count]), response.status == 200 {
                        completed.add()
                    }
                    i += 4
                }
            }
        }
        defer { stop.set(1) }
        // Kill once fills are both answered and committed to the volume, so the restart has
        // something to keep (answering does not wait for the store on a busy machine).
        let deadline = ContinuousClock.now + .seconds(120)
        while completed.value < 60 || Self.storedObjects(volume) < 10 {
            guard first.isRunning, ContinuousClock.now < deadline else {
                Issue.record("the first server stopped or filled too slowly (\(completed.value) responses, \(Self.storedObjects(volume)) stored)")
                if first.isRunning { first.terminate() }
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        await first.stop(SIGKILL)
        stop.set(1)
        #expect(first.terminationReason == .uncaughtSignal)
        await origin.stop()

        // The origin is gone: whatever is served now comes from the volume.
        let (second, restartPort) = try await Self.startServer(executable, volume: volume, origin: origin.port, name: "second")
        defer { second.terminate() }
        var served = 0
        var cut = 0
        for path in paths {
            // A response cut short is not served as complete (the client sees the short body);
            // what matters is that every complete one carries the origin's bytes.
            guard let response = try? await TestConnection.get(port: restartPort, path) else {
                cut += 1
                continue
            }
            guard response.status == 200 else {
                #expect(response.status == 502 || response.status == 504)
                continue
            }
            served += 1
            #expect(response.text == Self.body(path), "\(path) was served with other bytes than the origin's")
        }
        #expect(served > 0, "nothing was kept from before the kill")
        #expect(cut <= 2, "\(cut) responses were cut short")
        await second.stop()
        try await Task.sleep(for: .milliseconds(50))
    }
}
