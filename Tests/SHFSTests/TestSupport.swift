import Foundation
import MiniCacheTesting
import SHFS
import Testing

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("shfs-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

enum TestPaths {
    /// The package root (symlinks resolved, so it also works from a build root that links the sources).
    static var packageRoot: String {
        let file = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        return file.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// `../shared/data/golden` relative to the package root.
    static var goldenDirectory: String {
        URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/data/golden").path
    }

    static var goldenAvailable: Bool {
        FileManager.default.fileExists(atPath: goldenDirectory + "/golden.shfs")
    }
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// Expects `body` to throw an ``SHFSError`` with `code` whose message contains `fragment`.
func expectSHFSError(_ code: SHFSError.Code, containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code) error containing '\(fragment)', got success", sourceLocation: sourceLocation)
    } catch let e as SHFSError {
        #expect(e.code == code, "\(e.message)", sourceLocation: sourceLocation)
        #expect(e.message.contains(fragment), "message: \(e.message)", sourceLocation: sourceLocation)
        #expect(!e.message.contains("\n"), sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

func sha256(_ bytes: [UInt8]) -> [UInt8] { ContentDigest.sha256(bytes) }

/// Makes a small volume (4 KiB chunks) and returns its path.
func makeVolume(_ dir: TemporaryDirectory, _ name: String = "v.shfs", size: Int64 = 1 << 20, buckets: Int = 64, perBucket: Int = 4, allocator: VolumeHeader.Allocator = .firstFit, backup: Bool = false) throws -> String {
    let path = dir.file(name)
    try Volume.format(path: path, options: FormatOptions(size: size, chunkSize: 4096, bucketCount: buckets, entriesPerBucket: perBucket, name: "test", allocator: allocator, backupTable: backup))
    return path
}

/// The headers and hash tables of a volume (everything before its data area).
func metadata(_ path: String) throws -> [UInt8] {
    let v = try Volume(path: path)
    let n = Int(v.header.dataStartChunk) * v.header.chunkSize
    return Array(try readBytes(path)[0..<n])
}

/// Deterministic pseudo-random bytes.
func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}

func patch(_ path: String, at offset: Int, _ newBytes: [UInt8]) throws {
    let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? h.close() }
    try h.seek(toOffset: UInt64(offset))
    try h.write(contentsOf: Data(newBytes))
}

func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// The `shfs` binary built next to the test bundle.
enum Tool {
    static var path: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while dir.path != "/", !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("shfs").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("shfs").path
    }

    struct Result {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
        var out: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs `shfs` to completion.
    @discardableResult
    static func run(_ arguments: [String], stdin: [UInt8]? = nil) async throws -> Result {
        let run = try await ProcessRun.run(path, arguments, input: stdin)
        return Result(status: run.status, stdout: run.standardOutput, stderr: run.error)
    }

    /// Starts `shfs` in the background, output discarded.
    static func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }
}

enum Environment {
    static var slowTests: Bool { ProcessInfo.processInfo.environment["MINICACHE_SLOW_TESTS"] == "1" }
}

/// Byte-for-byte equality without dumping the bytes into a failure message.
func same(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }
