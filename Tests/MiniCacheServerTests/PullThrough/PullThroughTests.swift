import Foundation
import HTTPToolkit
import MiniCacheTesting
import Synchronization
import NIOCore
import NIOHTTP1
import SHFS
import NIOPosix
import Testing

@testable import MiniCacheServer

/// `minicache serve --origin` end to end: a real origin on 127.0.0.1:0, a real volume file,
/// the server on real sockets.
struct PullThroughTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// Waits (up to 10 s) until the cache has stored `count` objects.
    static func waitForStored(_ server: TestServer, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if server.server.context.cache!.statistics.stored >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the cache stored \(server.server.context.cache!.statistics.stored) objects, expected \(count)")
    }

    @Test("RFC 9111 §3: a fresh storable miss is relayed, stored, and then served from the volume, also after a restart")
    func missIsStoredAndSurvivesRestart() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "segment-0 bytes", headers: ["Cache-Control: max-age=3600", "Content-Type: video/mp2t"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let first = try await TestConnection.get(port: server.port, "/live/seg0.ts")
            #expect(first.status == 200)
            #expect(first.text == "segment-0 bytes")
            try await Self.waitForStored(server, 1)
            let second = try await TestConnection.get(port: server.port, "/live/seg0.ts")
            #expect(second.status == 200)
            #expect(second.text == "segment-0 bytes")
            #expect(second.header("Content-Type") == "video/mp2t")
            let head = try await TestConnection.get(port: server.port, "/live/seg0.ts", method: "HEAD")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "15")
            #expect(origin.requestCount == 1)
        }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let warm = try await TestConnection.get(port: server.port, "/live/seg0.ts")
            #expect(warm.text == "segment-0 bytes")
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 9111 §3: a no-store response is relayed but never stored")
    func noStoreIsNotStored() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "private", headers: ["Cache-Control: no-store"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for _ in 0..<2 {
                let response = try await TestConnection.get(port: server.port, "/a")
                #expect(response.text == "private")
            }
            #expect(origin.requestCount == 2)
            #expect(server.server.context.cache!.statistics.stored == 0)
        }
        await origin.stop()
    }

    @Test("a miss streamed to 50 concurrent clients makes one origin request")
    func flashCrowdMakesOneOriginRequest() async throws {
        let gate = Gate()
        let body = String(repeating: "x", count: 100_000)
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            let response = TestOrigin.response(body: body, headers: ["Cache-Control: max-age=60"])
            let cut = response.index(response.startIndex, offsetBy: 50_000)
            return [.send(String(response[..<cut])), .waitFor(gate), .send(String(response[cut...]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            var clients: [TestConnection] = []
            for _ in 0..<50 {
                let client = try await TestConnection(port: server.port)
                #expect(await client.send("GET /segment.ts HTTP/1.1\r\nHost: test\r\n\r\n"))
                clients.append(client)
            }
            // Open the origin's gate only once every request has joined the one fetch.
            for _ in 0..<3000 where server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) < 49 {
                try await Task.sleep(for: .milliseconds(10))
            }
            gate.open()
            for client in clients {
                let response = try await client.readResponse()
                #expect(response?.status == 200)
                #expect(response?.body.count == 100_000)
            }
            #expect(origin.requestCount == 1)
            #expect(server.server.context.stats.cacheCoalesced.load(ordering: .relaxed) == 49)
        }
        await origin.stop()
    }

    @Test("RFC 9112 §6.3: an origin killed mid-body cuts the response and stores nothing")
    func truncatedBodyIsNeverStored() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, index in
            if index == 0 {
                return [.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=60\r\n\r\n0123456789"), .close]
            }
            return [.send(TestOrigin.response(body: String(repeating: "z", count: 100), headers: ["Cache-Control: max-age=60"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let connection = try await TestConnection(port: server.port)
            #expect(await connection.send("GET /cut HTTP/1.1\r\nHost: test\r\n\r\n"))
            let raw = await connection.readToEnd()
            let headEnd = TestConnection.find(Array("\r\n\r\n".utf8), in: raw)
            #expect(headEnd.map { raw.count - $0 - 4 < 100 } == true)
            #expect(server.server.context.cache!.statistics.stored == 0)
            let retry = try await TestConnection.get(port: server.port, "/cut")
            #expect(retry.text == String(repeating: "z", count: 100))
            #expect(origin.requestCount == 2)
            try await Self.waitForStored(server, 1)
        }
        await origin.stop()
    }

    @Test("an unreachable origin answers 502 and the client does not hang")
    func unreachableOriginIsBadGateway() async throws {
        let port = 1  // privileged: nothing listens there during the tests
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(port)" }) { server in
            let response = try await TestConnection.get(port: server.port, "/nothing")
            #expect(response.status == 502)
        }
    }

    @Test("objects already on the volume are served without asking the origin")
    func volumeObjectsWinOverTheOrigin() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in [.send(TestOrigin.response(body: "origin"))] }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try volume.add("local.txt", Array("local".utf8))
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let local = try await TestConnection.get(port: server.port, "/local.txt")
            #expect(local.text == "local")
            #expect(origin.requestCount == 0)
        }
        await origin.stop()
    }

    @Test("RFC 9111 §4.2.3, §3.1: a hit carries Age and the stored end-to-end fields of the origin")
    func hitCarriesAgeAndStoredFields() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "seg", headers: ["Cache-Control: max-age=600", "ETag: \"v1\"", "X-Origin: yes", "Connection: keep-alive"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            _ = try await TestConnection.get(port: server.port, "/seg1.ts")
            try await Self.waitForStored(server, 1)
            let hit = try await TestConnection.get(port: server.port, "/seg1.ts")
            #expect(hit.text == "seg")
            #expect(hit.header("Age").flatMap { Int($0) }.map { $0 >= 0 && $0 < 600 } == true)
            #expect(hit.header("ETag") == "\"v1\"")
            #expect(hit.header("X-Origin") == "yes")
            #expect(hit.header("Cache-Control") == "max-age=600")
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 9111 §4.2: a stale playlist is fetched again while an immutable segment stays a hit")
    func stalePlaylistIsFetchedAgain() async throws {
        let origin = try await TestOrigin(group: Self.group) { request, index in
            if request.contains("/live.m3u8") {
                // The first playlist goes stale at once; the refreshed one stays fresh for the rest of the test.
                return [.send(TestOrigin.response(body: "#EXTM3U v\(index)", headers: ["Cache-Control: max-age=\(index == 0 ? 1 : 600)"]))]
            }
            return [.send(TestOrigin.response(body: "segment", headers: ["Cache-Control: max-age=31536000, immutable"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let first = try await TestConnection.get(port: server.port, "/live.m3u8")
            _ = try await TestConnection.get(port: server.port, "/seg.ts")
            try await Self.waitForStored(server, 2)
            try await Task.sleep(for: .milliseconds(2200))
            let second = try await TestConnection.get(port: server.port, "/live.m3u8")
            #expect(first.text != second.text)
            #expect(second.text.hasPrefix("#EXTM3U v"))
            let segment = try await TestConnection.get(port: server.port, "/seg.ts")
            #expect(segment.text == "segment")
            #expect(origin.requestCount == 3)
            try await Self.waitForStored(server, 3)
            let refreshed = try await TestConnection.get(port: server.port, "/live.m3u8")
            #expect(refreshed.text == second.text)
            #expect(origin.requestCount == 3)
        }
        await origin.stop()
    }

    @Test("a torn cache object (body shorter than its metadata says) is never served as complete")
    func tornObjectIsNeverServed() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: "0123456789", headers: ["Cache-Control: max-age=600"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let key = CacheKey(method: .GET, scheme: "http", authority: "127.0.0.1:\(origin.port)", target: "/torn")
        var metadata = StoredResponse(
            requestHeaders: [:],
            response: HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Cache-Control": "max-age=600"]),
            requestTime: Int64(time(nil)),
            responseTime: Int64(time(nil))
        )
        metadata.bodyLength = 10
        do {
            let writer = try VolumeWriter(path: volume.path)
            try writer.add(
                bytes: CachedMetadata.encode(metadata) + Array("01234".utf8),
                options: ObjectOptions(digest: key.primaryDigest.bytes, hidden: true)
            )
        }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let response = try await TestConnection.get(port: server.port, "/torn")
            #expect(response.text == "0123456789")
            #expect(origin.requestCount == 1)
            try await Self.waitForStored(server, 1)
            let hit = try await TestConnection.get(port: server.port, "/torn")
            #expect(hit.text == "0123456789")
            #expect(origin.requestCount == 1)
        }
        await origin.stop()
    }

    @Test("RFC 5861 §4, RFC 9111 §4.2.4: when the origin fails, stale-if-error serves the stale copy; without it the client gets the origin's 503")
    func staleIfErrorServesStale() async throws {
        let failing = SharedCounter()
        let origin = try await TestOrigin(group: Self.group) { request, _ in
            if failing.value == 1 {
                return [.send(TestOrigin.response("503 Service Unavailable", body: "down"))]
            }
            if request.contains("/sie") {
                return [.send(TestOrigin.response(body: "kept", headers: ["Cache-Control: max-age=1, stale-if-error=60"]))]
            }
            return [.send(TestOrigin.response(body: "plain", headers: ["Cache-Control: max-age=1"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            _ = try await TestConnection.get(port: server.port, "/sie")
            _ = try await TestConnection.get(port: server.port, "/plain")
            try await Self.waitForStored(server, 2)
            try await Task.sleep(for: .milliseconds(2200))
            failing.set(1)
            let stale = try await TestConnection.get(port: server.port, "/sie")
            #expect(stale.status == 200)
            #expect(stale.text == "kept")
            #expect(stale.header("Age").flatMap { Int($0) }.map { $0 >= 1 } == true)
            let plain = try await TestConnection.get(port: server.port, "/plain")
            #expect(plain.status == 503)
            #expect(plain.text == "down")
            #expect(server.server.context.stats.cacheStale.load(ordering: .relaxed) == 1)
        }
        await origin.stop()
    }

    @Test("POST /admin/purge drops a cached response; the next request goes to the origin")
    func purgeDropsACachedResponse() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, index in
            [.send(TestOrigin.response(body: "v\(index)", headers: ["Cache-Control: max-age=600"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            #expect(try await TestConnection.get(port: server.port, "/p?q=1").text == "v0")
            try await Self.waitForStored(server, 1)
            #expect(try await TestConnection.get(port: server.port, "/p?q=1").text == "v0")
            let purge = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=%2Fp%3Fq%3D1", method: "POST")
            #expect(purge.status == 200)
            #expect(try JSON.decode(AdminAPI.Purged.self, from: purge.body).purged == 1)
            #expect(try await TestConnection.get(port: server.port, "/p?q=1").text == "v1")
            #expect(origin.requestCount == 2)
        }
        await origin.stop()
    }

    @Test("RFC 9111 §5.2.1.7, §5.2.1.4: only-if-cached answers 504 without asking the origin; no-cache fetches again")
    func clientRequestDirectives() async throws {
        let origin = try await TestOrigin(group: Self.group) { _, index in
            [.send(TestOrigin.response(body: "v\(index)", headers: ["Cache-Control: max-age=600"]))]
        }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let onlyIfCached = try await TestConnection.get(port: server.port, "/d", headers: ["Cache-Control: only-if-cached"])
            #expect(onlyIfCached.status == 504)
            #expect(origin.requestCount == 0)
            #expect(try await TestConnection.get(port: server.port, "/d").text == "v0")
            try await Self.waitForStored(server, 1)
            let cached = try await TestConnection.get(port: server.port, "/d", headers: ["Cache-Control: only-if-cached"])
            #expect(cached.text == "v0")
            let maxAge = try await TestConnection.get(port: server.port, "/d", headers: ["Cache-Control: max-age=300"])
            #expect(maxAge.text == "v0")
            #expect(origin.requestCount == 1)
            let noCache = try await TestConnection.get(port: server.port, "/d", headers: ["Cache-Control: no-cache"])
            #expect(noCache.text == "v1")
            #expect(origin.requestCount == 2)
        }
        await origin.stop()
    }

    @Test("kill -9 of a minicache serve child during fills, then a restart: nothing partial is served as complete, finished fills are kept", .enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func killDuringFillsKeepsOnlyCompleteObjects() async throws {
        let executable = try #require(ProcessTests.executable)
        let gate = Gate()
        let size = 200_000
        let origin = try await TestOrigin(group: Self.group) { request, _ in
            let body = String(repeating: request.contains("/done") ? "d" : "p", count: size)
            let response = TestOrigin.response(body: body, headers: ["Cache-Control: max-age=600"])
            if request.contains("/done") { return [.send(response)] }
            let cut = response.index(response.startIndex, offsetBy: size / 2)
            return [.send(String(response[..<cut])), .waitFor(gate), .send(String(response[cut...]))]
        }
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let ready = volume.directory + "/ready"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "serve", volume.path, "--listen", "127.0.0.1:0", "--admin", "off", "--ready-file", ready, "--threads", "1",
            "--origin", "http://127.0.0.1:\(origin.port)", "--log-level", "error",
        ]
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let url = try #require(try await ProcessTests.waitForFile(ready), "minicache did not write its ready file")
        let port = try #require(Int(url.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last!.dropLast()))

        for i in 0..<3 {
            let done = try await TestConnection.get(port: port, "/done\(i)")
            #expect(done.body.count == size)
        }
        // The finished fills are committed to the volume (answering does not wait for that).
        let deadline = ContinuousClock.now + .seconds(60)
        while CacheStoreCrashTests.storedObjects(volume) < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(CacheStoreCrashTests.storedObjects(volume) == 3)
        var partial: [TestConnection] = []
        for i in 0..<8 {
            let client = try await TestConnection(port: port)
            #expect(await client.send("GET /part\(i) HTTP/1.1\r\nHost: t\r\n\r\n"))
            partial.append(client)
        }
        for client in partial { #expect(await !client.receiveRaw(max: 65536).isEmpty) }
        await process.stop(SIGKILL)
        gate.open()
        let fetchedBefore = origin.requestCount

        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for i in 0..<3 {
                let done = try await TestConnection.get(port: server.port, "/done\(i)")
                #expect(done.body == Array(repeating: UInt8(ascii: "d"), count: size))
            }
            #expect(origin.requestCount == fetchedBefore)
            for i in 0..<8 {
                let part = try await TestConnection.get(port: server.port, "/part\(i)")
                #expect(part.status == 200)
                #expect(part.body == Array(repeating: UInt8(ascii: "p"), count: size))
            }
            #expect(origin.requestCount == fetchedBefore + 8)
        }
        await origin.stop()
    }

    @Test("POST /admin/prefetch?object=<digest> keeps an object the cache stored in memory; an unknown digest is refused")
    func prefetchNamesStoredObject() async throws {
        // Above the small-object limit: served from the volume file until prefetched.
        let body = String(repeating: "0123456789", count: 10_000)
        let origin = try await TestOrigin(group: Self.group) { _, _ in
            [.send(TestOrigin.response(body: body, headers: ["Cache-Control: max-age=3600"]))]
        }
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let volumes = server.server.context.volumes
            #expect(try await TestConnection.get(port: server.port, "/stored").text == body)
            try await Self.waitForStored(server, 1)
            let stored = try #require(volumes.current.objects.first { $0.cached?.response.url == "/stored" })
            #expect(!stored.isInMemory)

            // Written by the store after the last full mount, and named in upper case.
            let prefetch = try await TestConnection.get(
                port: server.adminPort, "/admin/prefetch?object=\(stored.entry.hexDigest.uppercased())", method: "POST")
            #expect(prefetch.status == 200, "\(prefetch.text)")
            let prefetched = try #require(volumes.current.objects.first { $0.cached?.response.url == "/stored" })
            #expect(prefetched.isInMemory)
            let hit = try await TestConnection.get(port: server.port, "/stored")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == body)
            #expect(origin.requestCount == 1)

            // Once purged, its digest names nothing.
            let purge = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=/stored", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: purge.body) == AdminAPI.Purged(purged: 1))
            let gone = try await TestConnection.get(port: server.adminPort, "/admin/prefetch?object=\(stored.entry.hexDigest)", method: "POST")
            #expect(gone.status == 409, "\(gone.text)")
        }
        await origin.stop()
    }
}
