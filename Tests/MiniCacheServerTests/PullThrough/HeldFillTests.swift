#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MiniCacheTesting
import NIOHTTP1
import NIOPosix
import Testing

@testable import MiniCacheServer

/// Plain requests that come after a miss's fetch ended and before its store committed (a live
/// segment's viewers while the store syncs), over real sockets: they are answered from the fill
/// as a stored response would be, never by joining it as a relay.
struct HeldFillTests {
    /// Keeps the cache's store from committing while it is alive: holds the volume's writer lock
    /// (the store takes it for every write), as a writer in another process would.
    final class StoreBlock {
        private let descriptor: CInt

        init(volume: String) throws {
            self.descriptor = open(volume, O_RDWR | O_CLOEXEC)
            guard self.descriptor >= 0, flock(self.descriptor, LOCK_EX) == 0 else { throw TestClientError(description: "cannot lock \(volume)") }
        }

        func release() {
            _ = flock(self.descriptor, LOCK_UN)
        }

        deinit {
            close(self.descriptor)
        }
    }

    static let body = String((0..<65_536).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })

    /// An origin answering every request with `body` and `headers`.
    static func origin(_ headers: [(String, String)] = [("Cache-Control", "max-age=600"), ("Content-Type", "video/mp2t")]) async throws -> TestOrigin {
        try await TestOrigin.answering { _, _ in TestOrigin.Answer(.ok, headers, body: Self.body) }
    }

    /// Waits until the fill of the one miss has ended and is held for its store.
    static func waitForHeldFill(_ server: TestServer) async throws {
        let cache = try #require(server.server.context.cache)
        for _ in 0..<1000 where cache.heldFillCount == 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(cache.heldFillCount == 1)
    }

    @Test("RFC 9111 §5.1: plain requests after a miss's fetch ended and before it is stored get the response from the fill, COALESCED with Age, without joining the fill")
    func plainRequestsAnsweredFromHeldFill() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let block = try StoreBlock(volume: volume.path)
            defer { block.release() }
            let miss = try await TestConnection.get(port: server.port, "/live/seg1.ts")
            #expect(miss.header("X-Cache") == "MISS")
            #expect(miss.text == Self.body)
            try await Self.waitForHeldFill(server)
            for _ in 0..<3 {
                let held = try await TestConnection.get(port: server.port, "/live/seg1.ts")
                #expect(held.status == 200)
                #expect(held.header("X-Cache") == "COALESCED")
                #expect(held.header("Age").flatMap { Int($0) }.map { $0 >= 0 } == true)
                #expect(held.header("Content-Type") == "video/mp2t")
                #expect(held.header("Content-Length") == "65536")
                #expect(held.text == Self.body)
            }
            let head = try await TestConnection.get(port: server.port, "/live/seg1.ts", method: "HEAD")
            #expect(head.status == 200)
            #expect(head.header("X-Cache") == "COALESCED")
            #expect(head.header("Content-Length") == "65536")
            #expect(head.body.isEmpty)
            // Pipelined: two answers from the fill, then one that is not, in order.
            let connection = try await TestConnection(port: server.port)
            let get = "GET /live/seg1.ts HTTP/1.1\r\nHost: test\r\n\r\n"
            #expect(await connection.send(get + get + "GET /live/seg1.ts HTTP/1.1\r\nHost: test\r\nRange: bytes=0-9\r\n\r\n"))
            for _ in 0..<2 {
                let response = try #require(try await connection.readResponse())
                #expect(response.header("X-Cache") == "COALESCED")
                #expect(response.text == Self.body)
            }
            let range = try #require(try await connection.readResponse())
            #expect(range.status == 206)
            #expect(range.text == String(Self.body.prefix(10)))
            // Only the range request (not plain) joined the fill.
            #expect(server.server.context.upstream.fills.statistics.joined == 1)
            #expect(origin.requestCount == 1)
            block.release()
            try await PullThroughTests.waitForStored(server, 1)
            try await CachePathTests.waitForFills(server)
            let hit = try await TestConnection.get(port: server.port, "/live/seg1.ts")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == Self.body)
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 9111 §4.4: an unsafe request for the URL of a held fill makes the next plain request go to the origin")
    func unsafeRequestEndsHeldFill() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let block = try StoreBlock(volume: volume.path)
            defer { block.release() }
            #expect(try await TestConnection.get(port: server.port, "/live/seg2.ts").header("X-Cache") == "MISS")
            try await Self.waitForHeldFill(server)
            #expect(try await TestConnection.get(port: server.port, "/live/seg2.ts").header("X-Cache") == "COALESCED")
            let post = try await TestConnection.get(port: server.port, "/live/seg2.ts", method: "POST")
            #expect(post.status == 200)
            let after = try await TestConnection.get(port: server.port, "/live/seg2.ts")
            #expect(after.header("X-Cache") == "MISS")
            #expect(origin.requestCount == 3)
        }
        await origin.stop()
    }

    @Test("RFC 9111 §4: a held response a plain request may not reuse without revalidation (no-cache) is not served from the fill")
    func noCacheResponseNotServedFromHeldFill() async throws {
        let origin = try await Self.origin([("Cache-Control", "no-cache, max-age=600"), ("ETag", "\"v1\"")])
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            let block = try StoreBlock(volume: volume.path)
            defer { block.release() }
            #expect(try await TestConnection.get(port: server.port, "/live/seg3.ts").header("X-Cache") == "MISS")
            // The fill ended (its last byte was read) and is held for the store, but not offered.
            #expect(server.server.context.upstream.fills.count == 1)
            #expect(server.server.context.cache?.heldFillCount == 0)
            let next = try await TestConnection.get(port: server.port, "/live/seg3.ts")
            #expect(next.header("X-Cache") != "COALESCED")
            #expect(next.text == Self.body)
            #expect(origin.requestCount == 2)
        }
        await origin.stop()
    }
}
