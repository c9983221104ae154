import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import MiniCacheServer

/// `--origins FILE`: origins chosen by Host and path prefix.
struct OriginRouterTests {
    static let file = """
        # origins of the test CDN
        default                 http://origin.example:8080
        /live/                  http://live:81
        /live/4k/               http://big:82   # longer prefix wins
        video.example           http://vod:83
        video.example/live/     http://vod-live:84
        """

    @Test("longest prefix wins, a rule naming the host beats one that does not, the default catches the rest")
    func routing() throws {
        let router = try OriginRouter.parse(Self.file, file: "origins.conf")
        #expect(router.origin(host: "a.example", target: "/x")?.port == 8080)
        #expect(router.origin(host: "a.example", target: "/live/x.m3u8")?.port == 81)
        #expect(router.origin(host: "a.example", target: "/live/4k/x.ts")?.port == 82)
        #expect(router.origin(host: "Video.Example:8080", target: "/x")?.port == 83)
        #expect(router.origin(host: "video.example", target: "/live/x")?.port == 84)
        #expect(router.origin(host: "video.example", target: "/live/4k/x")?.port == 82)
        #expect(router.origin(host: nil, target: "/")?.host == "origin.example")
        let noDefault = try OriginRouter.parse("/a/ http://a:1\n", file: "f")
        #expect(noDefault.origin(host: "x", target: "/b") == nil)
    }

    @Test("a bad origins file is refused with a message naming the line")
    func badFiles() {
        func message(_ text: String) -> String {
            do {
                _ = try OriginRouter.parse(text, file: "origins.conf")
                return ""
            } catch {
                return error.message
            }
        }
        #expect(message("default http://a:1\n/x\n").hasPrefix("origins.conf:2: expected two words"))
        #expect(message("\n\n/x ftp://a\n").hasPrefix("origins.conf:3:"))
        #expect(message("default http://a:99999\n").contains("the port must be a number from 1 to 65535"))
        #expect(message("default http://a/path\n").contains("without a path"))
        #expect(message("bad*host http://a\n").contains("not a host name"))
        #expect(message("/a http://a\n/a http://b\n").hasPrefix("origins.conf:2: '/a' is given twice"))
        #expect(message("# nothing\n").contains("no rules"))
    }

    @Test("RFC 9111 §2: with --origins each request goes to its origin and the cache key includes the origin's authority")
    func serveWithOriginsFile() async throws {
        let a = try await TestOrigin.answering { request, _ in .init(.ok, [("Cache-Control", "max-age=600")], body: "a \(request.path)") }
        let b = try await TestOrigin.answering { request, _ in .init(.ok, [("Cache-Control", "max-age=600")], body: "b \(request.path)") }
        let path = NSTemporaryDirectory() + "origins-\(UUID().uuidString).conf"
        try "default \(a.url)\n/b/ \(b.url)\nother.example \(b.url)\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = path }) { server in
            #expect(try await TestConnection.get(port: server.port, "/x").text == "a /x")
            #expect(try await TestConnection.get(port: server.port, "/b/y").text == "b /b/y")
            func get(_ target: String, host: String) async throws -> TestResponse? {
                let connection = try await TestConnection(port: server.port)
                await connection.send("GET \(target) HTTP/1.1\r\nHost: \(host)\r\n\r\n")
                return try await connection.readResponse()
            }
            #expect(try await get("/x", host: "other.example")?.text == "b /x")
            try await CachePathTests.waitForStored(server, 3)
            #expect(try await TestConnection.get(port: server.port, "/x").text == "a /x")
            #expect(try await get("/x", host: "other.example")?.text == "b /x")
            #expect(try await get("/x", host: "other.example")?.header("X-Cache") == "HIT")
            #expect(b.requests.first?.header("Host") == "127.0.0.1:\(b.port)")
            #expect(a.requestCount == 1)
            #expect(b.requestCount == 2)
        }
        await a.stop()
        await b.stop()
    }
}
