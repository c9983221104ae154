import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// Defects an RFC 9111 conformance run found in the request path: requests that follow a miss
/// at once, on real sockets against a real origin.
struct ConformanceFixTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Starts a fill for `key` whose first subscriber is `leader` (the request that made it).
    func startFill(
        _ fills: OriginFillRegistry<String>, key: String, leader: RecordingDelegate, client: OriginClient, address: OriginAddress,
        holdAfterFinish: Bool = false
    ) -> OriginFill<String> {
        let (fill, isNew) = fills.fill(for: key)
        #expect(isNew)
        #expect(fill.subscribe(leader, on: group.next()) == .joined)
        fill.start(OriginRequest(target: "/" + key), to: address, using: client, holdAfterFinish: holdAfterFinish)
        return fill
    }

    @Test("RFC 9111 §4, §4.2: a finished fill held for its store commit is joined only while its response is fresh for the joiner")
    func heldFillJoinedOnlyWhenReusable() async throws {
        let origin = try await TestOrigin(group: group) { request, _ in
            let stale = ["Expires: \(HTTPDate.format(Int64(time(nil)) - 5000))", "Last-Modified: \(HTTPDate.format(Int64(time(nil)) - 100_000))"]
            let headers = request.contains("/stale") ? stale : ["Cache-Control: max-age=600"]
            return [.send(TestOrigin.response(body: "payload", headers: headers + ["Date: \(HTTPDate.format(Int64(time(nil))))"]))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        for key in ["stale", "fresh"] {
            let leader = RecordingDelegate()
            let fill = startFill(fills, key: key, leader: leader, client: client, address: address, holdAfterFinish: true)
            #expect(await leader.end().finished)
            let joined = fill.subscribe(RecordingDelegate(), on: group.next(), requestHeaders: [:])
            #expect(joined == (key == "fresh" ? .joined : .notShareable), "\(key)")
            // A request that asks for a fresh answer never gets the held one.
            #expect(fill.subscribe(RecordingDelegate(), on: group.next(), requestHeaders: ["Cache-Control": "no-cache"]) == .notShareable)
            if key == "stale" {
                // ... unless it accepts a stale response (§5.2.1.2).
                #expect(fill.subscribe(RecordingDelegate(), on: group.next(), requestHeaders: ["Cache-Control": "max-stale=9999"]) == .joined)
            }
            fill.release()
        }
        #expect(origin.requestCount == 2)
        client.shutdown()
        await origin.stop()
    }

    @Test("RFC 9111 §4: joiners of a fetch in flight whose response arrives stale or not storable are sent to the origin on their own")
    func inFlightJoinersOfStaleResponseFetchSeparately() async throws {
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { request, _ in
            let headers =
                request.contains("/fresh")
                ? ["Cache-Control: max-age=600"] : request.contains("/nostore") ? ["Cache-Control: max-age=0, must-revalidate"] : ["Expires: 0"]
            return [.waitFor(gate), .send(TestOrigin.response(body: "payload", headers: headers))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        var pending: [(String, RecordingDelegate, RecordingDelegate)] = []
        for key in ["fresh", "stale", "nostore"] {
            let leader = RecordingDelegate()
            let fill = startFill(fills, key: key, leader: leader, client: client, address: address)
            let joiner = RecordingDelegate()
            #expect(fill.subscribe(joiner, on: group.next(), requestHeaders: [:]) == .joined)
            pending.append((key, leader, joiner))
        }
        gate.open()
        for (key, leader, joiner) in pending {
            let led = await leader.end()
            #expect(led.finished, "\(key)")
            let joined = await joiner.end()
            if key == "fresh" {
                #expect(joined.finished)
                #expect(joiner.bodyString == "payload")
            } else {
                #expect(!joined.finished, "\(key)")
                #expect(joined.error?.code == .notShareable, "\(key)")
            }
        }
        client.shutdown()
        await origin.stop()
    }

    @Test("RFC 9111 §4.2: a GET sent right after a miss whose response is already stale goes to the origin", arguments: [200, 404, 301, 503])
    func staleResponseRightAfterMissGoesToOrigin(status: Int) async throws {
        let origin = try await TestOrigin.answering { _, index in
            .init(
                HTTPResponseStatus(statusCode: status),
                [
                    ("Expires", CachePathTests.date(ago: 5000)), ("Last-Modified", CachePathTests.date(ago: 100_000)),
                    ("Date", CachePathTests.date(ago: 0)),
                ], body: "answer \(index + 1)")
        }
        try await CachePathTests.withCache(origin) { server in
            let connection = try await TestConnection(port: server.port)
            await connection.send("GET /s HTTP/1.1\r\nHost: test\r\n\r\nGET /s HTTP/1.1\r\nHost: test\r\n\r\n")
            let first = try #require(try await connection.readResponse())
            let second = try #require(try await connection.readResponse())
            #expect(first.text == "answer 1")
            #expect(second.status == status)
            #expect(second.text == "answer 2")
            #expect(origin.requestCount == 2)
        }
    }

    @Test("RFC 9111 §4.4: an unsafe method's invalidation holds for the next request on the same connection", arguments: ["POST", "PUT", "DELETE", "M-SEARCH"])
    func invalidationBeforeUnsafeResponse(method: String) async throws {
        let origin = try await TestOrigin.answering { request, index in
            request.method == "GET" ? .init(.ok, [("Cache-Control", "max-age=600")], body: "doc \(index + 1)") : .init(.ok, body: "done")
        }
        try await CachePathTests.withCache(origin) { server in
            _ = try await CachePathTests.get(server, "/doc")
            try await CachePathTests.waitForStored(server, 1)
            try await CachePathTests.waitForFills(server)
            // Twice: the second one takes the fast hit path.
            #expect(try await CachePathTests.get(server, "/doc").header("X-Cache") == "HIT")
            #expect(try await CachePathTests.get(server, "/doc").header("X-Cache") == "HIT")
            let connection = try await TestConnection(port: server.port)
            await connection.send("\(method) /doc HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabcGET /doc HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(try await connection.readResponse()?.text == "done")
            let after = try #require(try await connection.readResponse())
            #expect(after.header("X-Cache") == "MISS")
            #expect(after.text == "doc 3")
            #expect(origin.requestCount == 3)
            // A new response is stored and served again once the removal is done (a GET that comes
            // before that misses and stores the origin's next answer): the hit is the latest one.
            let hit = try await CachePathTests.eventually({ try await CachePathTests.get(server, "/doc") }) { $0.header("X-Cache") == "HIT" }
            #expect(hit.text == "doc \(origin.requestCount)")
        }
    }

    @Test("RFC 9111 §4.3.4: the request right after a 304 is answered from the updated response, not sent to the origin again")
    func requestAfterNotModifiedUsesTheUpdate() async throws {
        // Stored stale (max-age=0), revalidated to fresh by the 304. The request after the 304
        // must find either the held revalidation or the committed update, never neither.
        let origin = try await TestOrigin.answering { request, _ in
            request.header("If-None-Match") == "\"v1\""
                ? .init(.notModified, [("ETag", "\"v1\""), ("Cache-Control", "max-age=600")])
                : .init(.ok, [("ETag", "\"v1\""), ("Cache-Control", "max-age=0")], body: "body of \(request.path)")
        }
        // 160 keys in 64 hash buckets of 8 entries filled one in about 1 run of 16: its oldest
        // key was evicted, and each later key of that bucket missed, was stored again (evicting
        // the next one) and then revalidated once more. In 1024 buckets none fills.
        try await CachePathTests.withCache(origin, buckets: 1024) { server in
            let keys = 160
            for key in 0..<keys {
                _ = try await CachePathTests.get(server, "/r\(key)")
            }
            try await CachePathTests.waitForStored(server, keys)
            try await CachePathTests.waitForFills(server)
            // The next request follows the 304 after a pause that grows by 50 µs per key, so that
            // some arrive just as the update is committed.
            let connection = try await TestConnection(port: server.port)
            for key in 0..<keys {
                await connection.send("GET /r\(key) HTTP/1.1\r\nHost: test\r\n\r\n")
                let revalidated = try #require(try await connection.readResponse())
                #expect(revalidated.header("X-Cache") == "REVALIDATED", "/r\(key)")
                try await Task.sleep(for: .microseconds(50 * key))
                let before = origin.requestCount
                await connection.send("GET /r\(key) HTTP/1.1\r\nHost: test\r\n\r\n")
                let next = try #require(try await connection.readResponse())
                #expect(next.text == "body of /r\(key)")
                #expect(origin.requestCount == before, "/r\(key) went to the origin again (X-Cache \(next.header("X-Cache") ?? "-"))")
            }
            // One fetch and one revalidation per key, nothing more.
            #expect(origin.requestCount == 2 * keys)
            #expect(server.server.context.cache?.store.statistics.evicted == 0, "a hash bucket overflowed: not every key was kept")
        }
    }

    @Test("RFC 9111 §4.4: a response whose fetch began before an unsafe request invalidated its URL is relayed but not stored")
    func fillOverlappingInvalidationIsNotStored() async throws {
        // The origin holds its answer to the first GET until the DELETE was answered.
        let gate = Gate()
        let origin = try await TestOrigin { request, index in
            guard request.method == "GET" else { return TestOrigin.Answer(.ok, body: "deleted").actions(for: request) }
            let answer = TestOrigin.Answer(.ok, [("Cache-Control", "max-age=600")], body: "doc \(index + 1)").actions(for: request)
            return index == 0 ? [.waitFor(gate)] + answer : answer
        }
        try await CachePathTests.withCache(origin) { server in
            async let slow = Task.detached { try await CachePathTests.get(server, "/doc") }.value
            let deadline = ContinuousClock.now + .seconds(60)
            while origin.requestCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            let deleted = try await TestConnection.get(port: server.port, "/doc", method: "DELETE")
            #expect(deleted.text == "deleted")
            gate.open()
            #expect(try await slow.text == "doc 1")
            // The fill's outcome (stored or not) is settled before the next request.
            let cache = try #require(server.server.context.cache)
            while cache.statistics.stored + cache.statistics.notStored == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(cache.statistics.stored == 0)
            let after = try await CachePathTests.get(server, "/doc")
            #expect(after.header("X-Cache") == "MISS")
            #expect(after.text == "doc 3")
            #expect(origin.requestCount == 3)
        }
    }

    @Test("RFC 9110 §14.2: a Range request that joins a fill, held or in flight, gets a 206 of the fetched response with its fields")
    func rangeRequestJoiningFillGets206() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            .init(
                .ok, [("Cache-Control", "max-age=3600"), ("A", "1"), ("ETag", "\"r1\"")], body: "01234567890",
                delay: request.path == "/slow" ? .milliseconds(300) : .zero)
        }
        try await CachePathTests.withCache(origin) { server in
            // Right after the miss, on the same connection: joins the held fill (or the stored response).
            let connection = try await TestConnection(port: server.port)
            await connection.send("GET /held HTTP/1.1\r\nHost: test\r\n\r\nGET /held HTTP/1.1\r\nHost: test\r\nRange: bytes=0-1\r\n\r\n")
            #expect(try await connection.readResponse()?.text == "01234567890")
            let held = try #require(try await connection.readResponse())
            #expect(held.status == 206)
            #expect(held.text == "01")
            #expect(held.header("Content-Range") == "bytes 0-1/11")
            #expect(held.header("A") == "1")

            // While the fetch is in flight: a suffix range and an If-Range that holds.
            let leader = try await TestConnection(port: server.port)
            await leader.send("GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
            try await Task.sleep(for: .milliseconds(50))
            let joiner = try await TestConnection(port: server.port)
            await joiner.send("GET /slow HTTP/1.1\r\nHost: test\r\nRange: bytes=-3\r\nIf-Range: \"r1\"\r\n\r\n")
            #expect(try await leader.readResponse()?.status == 200)
            let inFlight = try #require(try await joiner.readResponse())
            #expect(inFlight.status == 206)
            #expect(inFlight.text == "890")
            #expect(inFlight.header("Content-Range") == "bytes 8-10/11")
            #expect(inFlight.header("A") == "1")
            #expect(origin.requestCount == 2)
        }
    }

    @Test("RFC 9111 §4.2.4: a stale response is served when the origin drops the connection unanswered, unless must-revalidate or no-cache forbids it")
    func staleServedWhenOriginDisconnects() async throws {
        let answered = Mutex(Set<String>())
        let origin = try await TestOrigin(group: group) { request, _ in
            let path = request.path
            guard answered.withLock({ $0.insert(path).inserted }) else { return [.close] }
            let extra = path == "/mr" ? ", must-revalidate" : path == "/nc" ? ", no-cache" : ""
            return [.send(TestOrigin.response(body: "kept \(path)", headers: ["Cache-Control: max-age=2\(extra)", "Date: \(CachePathTests.date(ago: 10))"]))]
        }
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for path in ["/ok", "/mr", "/nc"] { #expect(try await CachePathTests.get(server, path).text == "kept \(path)") }
            try await CachePathTests.waitForStored(server, 3)
            try await CachePathTests.waitForFills(server)
            let stale = try await CachePathTests.get(server, "/ok")
            #expect(stale.status == 200)
            #expect(stale.text == "kept /ok")
            #expect(stale.header("X-Cache") == "STALE")
            #expect(try await CachePathTests.get(server, "/mr").status == 502)
            #expect(try await CachePathTests.get(server, "/nc").status == 502)
            // A client that asks for a fresh answer gets the error too.
            #expect(try await CachePathTests.get(server, "/ok", ["Cache-Control: max-age=0"]).status == 502)
        }
        await origin.stop()
    }
}
