import Foundation
import SHFS

/// A volume in a fresh temporary directory, written through the SHFS library.
struct TestVolume {
    let directory: String
    let path: String

    /// Deterministic content of `count` bytes.
    static func bytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = UInt8(truncatingIfNeeded: i &* 31 &+ (i >> 8) &+ Int(seed)) }
            initialized = count
        }
    }

    /// - Parameter bucketCount: hash buckets of 8 entries; the default 64 holds a few hundred objects.
    init(sizeMiB: Int = 64, chunkSize: Int = 4096, bucketCount: Int = 64, directory: String? = nil) throws {
        self.directory = directory ?? NSTemporaryDirectory() + "minicache-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        self.path = self.directory + "/test.shfs"
        _ = try Volume.format(
            path: self.path,
            options: FormatOptions(size: Int64(sizeMiB) << 20, chunkSize: chunkSize, bucketCount: bucketCount, entriesPerBucket: 8, name: "test")
        )
    }

    @discardableResult
    func add(_ name: String, _ content: [UInt8], mime: String = "", encoding: String = "", hidden: Bool = false) throws -> Entry {
        let writer = try VolumeWriter(path: self.path)
        return try writer.add(bytes: content, options: ObjectOptions(name: name, mimeType: mime, encoding: encoding, hidden: hidden))
    }

    @discardableResult
    func addLink(_ name: String, url: String, type: LinkType) throws -> Entry {
        let writer = try VolumeWriter(path: self.path)
        return try writer.addLink(url: url, type: type, name: name)
    }

    func setDefault(_ entry: Entry) throws {
        let writer = try VolumeWriter(path: self.path)
        _ = try writer.setDefault(entry)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// The standard fixture, made once per test process and only read: small and large objects,
    /// a default page, an encoded object, a hidden one.
    static let shared: TestVolume = {
        do {
            let volume = try Self.standard(directory: Self.sharedDirectory)
            atexit { try? FileManager.default.removeItem(atPath: TestVolume.sharedDirectory) }
            return volume
        } catch {
            fatalError("cannot write the test volume: \(error)")
        }
    }()

    static var sharedDirectory: String { NSTemporaryDirectory() + "minicache-test-shared-\(getpid())" }

    /// The standard fixture: small and large objects, a default page, an encoded object.
    static func standard(directory: String? = nil) throws -> TestVolume {
        let volume = try TestVolume(sizeMiB: 16, directory: directory)
        let index = try volume.add("index.html", Array("<!doctype html><p>hello</p>\n".utf8), mime: "text/html")
        try volume.setDefault(index)
        try volume.add("small.bin", Self.bytes(1024))
        try volume.add("empty", [])
        try volume.add("a b/ü.txt", Array("spaces and unicode\n".utf8), mime: "text/plain")
        try volume.add("page.html.gz", Self.bytes(300, seed: 7), mime: "text/html", encoding: "gzip")
        try volume.add("large.bin", Self.bytes(3 << 20, seed: 3))
        try volume.add("secret", Array("hidden\n".utf8), hidden: true)
        return volume
    }
}
