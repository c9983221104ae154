import Foundation
import MiniCacheTesting
import SHFS
import Testing

/// Kills the real `shfs import` with SIGKILL at random moments, over and over, and checks after
/// each kill that the volume is consistent: no entry points at unwritten data (every digest
/// verifies) and no extents overlap. MINICACHE_SLOW_TESTS=1 runs many more iterations.
struct CrashSafetyTests {
    @Test func killDuringImportNeverCorruptsTheVolume() async throws {
        let iterations = Environment.slowTests ? 150 : 8
        let dir = try TemporaryDirectory()
        let vol = dir.file("crash.shfs")
        func format() throws {
            try Volume.format(path: vol, options: FormatOptions(size: 64 << 20, chunkSize: 4096, bucketCount: 1024, entriesPerBucket: 16, force: true))
        }
        try format()
        var rng = SystemRandomNumberGenerator()
        var fullRun = 0.05
        var killed = 0
        for i in 0..<iterations {
            if try VolumeWriter(path: vol).freeBytes.total < 16 << 20 { try format() }
            let tree = dir.file("tree\(i)")
            for f in 0..<16 {
                let size = Int.random(in: 1...250_000, using: &rng)
                try dir.write("tree\(i)/it\(i)/f\(f).bin", bytes(size, seed: UInt64(i * 1000 + f + 1)))
            }
            let start = Date()
            let p = try Tool.start(["import", vol, tree, "--quiet", "--batch-size", "300K"])
            if i > 0 {
                try await Task.sleep(for: .microseconds(Int(Double.random(in: 0..<fullRun, using: &rng) * 1e6)))
                kill(p.processIdentifier, SIGKILL)
            }
            await p.exited()
            if i == 0 {
                #expect(p.terminationStatus == 0)
                fullRun = max(Date().timeIntervalSince(start), 0.01)
            } else if p.terminationReason == .uncaughtSignal {
                killed += 1
            } else {
                // The import finished before the kill (the first run was slowed by a busy
                // machine): aim earlier next time.
                fullRun /= 2
            }
            let check = try VolumeCheck.run(path: vol, options: .init(verifyDigests: true))
            #expect(check.problems.isEmpty, "iteration \(i): \(check.problems)")
            let v = try Volume(path: vol)
            for e in v.entries where e.name.hasPrefix("it\(i)/") {
                let f = Int(e.name.split(separator: "f").last!.split(separator: ".").first!)!
                #expect(same(try v.contents(of: e), try readBytes(dir.file("tree\(i)/\(e.name)"))), "iteration \(i) file \(f)")
            }
            try? FileManager.default.removeItem(atPath: tree)
        }
        #expect(killed > 0, "no import was interrupted; the kill delays are too long")
    }
}
