import Foundation
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
