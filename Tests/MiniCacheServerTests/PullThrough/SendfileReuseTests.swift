#if canImport(Glibc)
import Glibc
#endif
import HTTPToolkit
import MiniCacheServer
import MiniCacheTesting
import NIOHTTP1
import Testing

/// A stored body's write completes (and the response lets go of its mount) while the bytes still
/// wait in the sockets for a client that reads later. When the store then gives the object's
/// chunks to another object, those bytes must not change: sent with `sendfile`, they would be
/// references to the volume file's pages, so stored bodies are copied even when the server sends
/// large objects with `sendfile`.
struct SendfileReuseTests {
    static func body(_ path: String, size: Int) -> String {
        let unit = path + "-0123456789abcdef/"
        return String(String(repeating: unit, count: size / unit.utf8.count + 1).prefix(size))
    }

    @Test("a stored body already handed to a socket keeps its bytes when the store reuses its chunks for other objects")
    func sentBytesSurviveChunkReuse() async throws {
        try await Self.sentBytesSurviveChunkReuse(readBackFromDisk: false)
    }

    /// Read back from the disk, the file's pages come in folios larger than a chunk (Linux 6.18
    /// on ext4): punching a hole over part of such a folio zeroes its bytes in place, also the
    /// bytes a socket still holds after a `sendfile` — the viewer gets zeros.
    @Test("a stored body whose pages were read back from the disk keeps its bytes in the socket when the store reuses its chunks")
    func sentBytesReadBackSurviveChunkReuse() async throws {
        try await Self.sentBytesSurviveChunkReuse(readBackFromDisk: true)
    }

    /// - Parameter readBackFromDisk: the volume's pages are dropped from the page cache and read
    ///   back from the disk before the viewer asks.
    static func sentBytesSurviveChunkReuse(readBackFromDisk: Bool) async throws {
        let size = 100_000
        let origin = try await TestOrigin.answering { request, _ in
            .init(.ok, [("Cache-Control", "max-age=600")], body: Self.body(request.path, size: size))
        }
        try await CachePathTests.withCache(origin, { $0.largeObjectStrategy = .sendfile }) { server in
            // Read-ahead grows its folios as it goes: then /first lies past the first megabyte.
            let pads = readBackFromDisk ? 12 : 0
            for i in 0..<pads { _ = try await CachePathTests.get(server, "/pad\(i)") }
            _ = try await CachePathTests.get(server, "/first")
            try await CachePathTests.waitForStored(server, pads + 1)
            let context = server.server.context
            // Not kept: a mount held here would keep the evicted object's chunks from reuse.
            let object = try { () throws -> PreparedObject in
                let mount = context.volumes.current
                let hex = Array(context.cache!.key(target: "/first").hexDigest.utf8)
                return mount.objects[try #require(mount.byDigest.lookup(hex))]
            }()
            #expect(!object.isInMemory)

            if readBackFromDisk { try VolumeFile.readBack(context.volumes.path) }
            // Room for a whole body in the receive queue, so the server's writes complete unread.
            let reader = try LoopbackSocket(port: server.port, receiveBuffer: 1 << 20)
            reader.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            // The whole response waits in the reader's socket: the server's writes are done.
            for _ in 0..<500 where reader.queued() < size { try await Task.sleep(for: .milliseconds(10)) }
            #expect(reader.queued() >= size)

            // Enough new objects to evict /first and write others into its chunks.
            for i in 0..<250 {
                _ = try await CachePathTests.get(server, "/other\(i)")
                let written = try VolumeFile.read(context.volumes.path, offset: object.fileOffset, count: 64)
                if written != Array(Self.body("/first", size: size).utf8.prefix(64)) { break }
            }
            try await CachePathTests.waitForFills(server)
            let now = try VolumeFile.read(context.volumes.path, offset: object.fileOffset, count: 64)
            #expect(now != Array(Self.body("/first", size: size).utf8.prefix(64)), "the chunks of /first were not reused")

            let response = reader.read(reader.queued())
            let start = try #require(TestConnection.find(Array("\r\n\r\n".utf8), in: response)) + 4
            CacheStorePurgeTests.expectBody(Array(response[start...]), Self.body("/first", size: size))
        }
    }
}

/// Reads bytes of a volume file as they are now.
enum VolumeFile {
    static func read(_ path: String, offset: Int64, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        return Array(bytes.prefix(max(0, got)))
    }

    /// Drops the file's pages from the page cache (they are synced: the store syncs what it
    /// writes) and reads it back from the disk from start to end, as a full remount or a backup
    /// would: the read-ahead fills the page cache with folios of growing size.
    static func readBack(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while buffer.withUnsafeMutableBytes({ Glibc.read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
