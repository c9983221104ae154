import MallocCounter
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import MiniCacheServer

/// Heap allocations per request on the hot paths, counted on the server's only event-loop thread
/// while an async client on other threads sends the requests over a real socket. The bounds are what
/// the code met when they were set (debug build, as `swift test` builds it), with a little room:
/// a change that allocates more per request on these paths fails here.
@Suite struct AllocationTests {
    /// Requests measured per test, after as many for warming up.
    static let requests = 1000

    /// Counts the allocations the server's event loop makes while `body` runs.
    static func allocations(on server: TestServer, _ body: () async throws -> Void) async throws -> UInt64 {
        let loop = server.server.eventLoopGroup.next()
        try await loop.submit { malloc_counter_start() }.get()
        try await body()
        return try await loop.submit { malloc_counter_stop() }.get()
    }

    /// Sends `request` `count` times on `connection`, `depth` at a time, and reads every response.
    static func exchange(_ connection: TestConnection, _ request: String, count: Int, depth: Int = 1) async throws {
        let batch = Array(String(repeating: request, count: depth).utf8)
        for _ in 0..<(count / depth) {
            #expect(await connection.send(batch))
            for _ in 0..<depth {
                let response = try #require(try await connection.readResponse())
                #expect(response.status == 200)
            }
        }
    }

    @Test("the counter sees this thread's allocations, so the bounds below can fail")
    func counterCounts() {
        malloc_counter_start()
        for _ in 0..<10 {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
            pointer.deallocate()
        }
        #expect(malloc_counter_stop() >= 10)
    }

    @Test("a 1 KiB object on a keep-alive connection: at most 10 allocations per request")
    func smallObjectKeepAlive() async throws {
        try await TestServer.with(volume: TestVolume.shared.path, { $0.threads = 1 }) { server in
            let connection = try await TestConnection(port: server.port)
            let request = "GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n"
            try await Self.exchange(connection, request, count: Self.requests)
            let count = try await Self.allocations(on: server) {
                try await Self.exchange(connection, request, count: Self.requests)
            }
            let perRequest = Double(count) / Double(Self.requests)
            #expect(perRequest <= 10, "\(perRequest) allocations per request")
        }
    }

    @Test("16 pipelined requests for a 1 KiB object: at most 1 allocation per request")
    func pipelinedBatch() async throws {
        try await TestServer.with(volume: TestVolume.shared.path, { $0.threads = 1 }) { server in
            let connection = try await TestConnection(port: server.port)
            let request = "GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n"
            try await Self.exchange(connection, request, count: Self.requests, depth: 16)
            let count = try await Self.allocations(on: server) {
                try await Self.exchange(connection, request, count: Self.requests, depth: 16)
            }
            let perRequest = Double(count) / Double(Self.requests / 16 * 16)
            #expect(perRequest <= 1, "\(perRequest) allocations per request")
        }
    }

    @Test("a fresh cached 1 KiB response (the cache's fast hit path): at most 14 allocations per request")
    func cacheHitFastPath() async throws {
        let body = String(repeating: "c", count: 1024)
        let origin = try await TestOrigin.answering { _, _ in
            TestOrigin.Answer(.ok, [("Cache-Control", "max-age=3600"), ("Content-Type", "application/octet-stream")], body: body)
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.threads = 1; $0.origin = origin.url }) { server in
            let first = try await TestConnection.get(port: server.port, "/hot")
            #expect(first.body.count == 1024)
            for _ in 0..<1000 where server.server.context.cache!.statistics.stored < 1 {
                try await Task.sleep(for: .milliseconds(10))
            }
            let connection = try await TestConnection(port: server.port)
            let request = "GET /hot HTTP/1.1\r\nHost: test\r\n\r\n"
            try await Self.exchange(connection, request, count: Self.requests)
            let count = try await Self.allocations(on: server) {
                try await Self.exchange(connection, request, count: Self.requests)
            }
            let perRequest = Double(count) / Double(Self.requests)
            #expect(perRequest <= 14, "\(perRequest) allocations per request")
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }
}
