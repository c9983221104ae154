import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization
import Testing

@testable import MiniCacheServer

/// The request path of `minicache serve --origin` as an RFC 9111 shared cache, end to end: a
/// real origin on 127.0.0.1:0, a real volume, the server on real sockets.
struct CachePathTests {
    /// Runs `body` against a cache in front of `origin`.
    /// - Parameter buckets: hash buckets of the volume (8 entries each).
    static func withCache(
        _ origin: TestOrigin,
        buckets: Int = 64,
        _ change: @escaping (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws {
        let volume = try TestVolume(sizeMiB: 8, bucketCount: buckets)
        defer { volume.remove() }
        try await TestServer.with(
            volume: volume.path,
            {
                $0.origin = origin.url
                change(&$0)
            }, body)
        await origin.stop()
    }

    /// Waits (up to 10 s) until the cache has stored `count` objects.
    static func waitForStored(_ server: TestServer, _ count: Int) async throws {
        for _ in 0..<1000 {
            if server.server.context.cache!.statistics.stored >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the cache stored \(server.server.context.cache!.statistics.stored) objects, expected \(count)")
    }

    /// Waits (up to 10 s) until no origin fetch is in flight or held for storing.
    static func waitForFills(_ server: TestServer) async throws {
        for _ in 0..<1000 {
            if server.server.context.upstream.fills.count == 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("origin fetches still in flight")
    }

    /// Repeats `request` (up to 10 s) until `done` holds for its response.
    static func eventually(_ request: () async throws -> TestResponse, _ done: (TestResponse) -> Bool) async throws -> TestResponse {
        var last = try await request()
        for _ in 0..<500 where !done(last) {
            try await Task.sleep(for: .milliseconds(20))
            last = try await request()
        }
        return last
    }

    static func get(_ server: TestServer, _ target: String, _ headers: [String] = [], method: String = "GET") async throws -> TestResponse {
        try await TestConnection.get(port: server.port, target, headers: headers, method: method)
    }

    /// An HTTP-date `seconds` ago.
    static func date(ago seconds: Int64) -> String {
        HTTPDate.format(Int64(time(nil)) - seconds)
    }

    @Test("RFC 9110 §7.6.1, §7.6.3: a miss forwards the client's end-to-end fields, drops hop-by-hop ones, sets Host and adds Via")
    func missForwardsEndToEndFields() async throws {
        let origin = try await TestOrigin.answering { _, _ in .init(.ok, [("Cache-Control", "max-age=60")], body: "x") }
        try await Self.withCache(origin) { server in
            let response = try await Self.get(
                server, "/fwd?q=1",
                ["X-Client: a", "Accept-Language: fr", "Connection: X-Hop", "X-Hop: secret", "Keep-Alive: timeout=5", "If-None-Match: \"zz\""])
            #expect(response.status == 200)
            let seen = try #require(origin.requests.first)
            #expect(seen.path == "/fwd?q=1")
            #expect(seen.header("X-Client") == "a")
            #expect(seen.header("Accept-Language") == "fr")
            #expect(seen.header("X-Hop") == nil)
            #expect(seen.header("Keep-Alive") == nil)
            #expect(seen.header("Host") == "127.0.0.1:\(origin.port)")
            #expect(seen.header("Via")?.contains("minicache") == true)
            // The cache asks for the whole response to store it; it answers the client's conditionals itself.
            #expect(seen.header("If-None-Match") == nil)
        }
    }

    @Test("RFC 9110 §7.6.1, §15: the client gets the origin's status and end-to-end fields with Via; hop-by-hop fields are dropped")
    func originStatusAndFieldsAreRelayed() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            switch request.path {
            case "/fields":
                return .init(
                    .ok,
                    [
                        ("Cache-Control", "max-age=60"), ("ETag", "\"v1\""), ("Set-Cookie", "a=b"), ("X-Origin", "yes"),
                        ("Connection", "X-Secret"), ("X-Secret", "1"), ("Content-Type", "text/plain"),
                    ], body: "fields")
            case "/missing": return .init(.notFound, [("Content-Type", "text/plain")], body: "no such thing")
            case "/broken": return .init(.internalServerError, [], body: "origin bug")
            default: return .init(.serviceUnavailable, [("Retry-After", "5")], body: "later")
            }
        }
        try await Self.withCache(origin) { server in
            let fields = try await Self.get(server, "/fields")
            #expect(fields.status == 200)
            #expect(fields.text == "fields")
            #expect(fields.header("ETag") == "\"v1\"")
            #expect(fields.header("Set-Cookie") == "a=b")
            #expect(fields.header("X-Origin") == "yes")
            #expect(fields.header("Cache-Control") == "max-age=60")
            #expect(fields.header("X-Secret") == nil)
            #expect(fields.header("Via")?.contains("minicache") == true)
            let missing = try await Self.get(server, "/missing")
            #expect(missing.status == 404)
            #expect(missing.text == "no such thing")
            let broken = try await Self.get(server, "/broken")
            #expect(broken.status == 500)
            #expect(broken.text == "origin bug")
            let later = try await Self.get(server, "/later")
            #expect(later.status == 503)
            #expect(later.header("Retry-After") == "5")
        }
    }

    @Test("RFC 9111 §3, §4: storable 301, 404 and 410 responses are stored and hits answer with the stored status and fields")
    func storedStatusesAreServed() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            switch request.path {
            case "/moved": return .init(.movedPermanently, [("Location", "/new"), ("Cache-Control", "max-age=600")], body: "moved")
            case "/gone": return .init(.gone, [("Cache-Control", "max-age=600")], body: "gone")
            default: return .init(.notFound, [("Cache-Control", "max-age=600"), ("X-Why", "nothing")], body: "absent")
            }
        }
        try await Self.withCache(origin) { server in
            for path in ["/moved", "/gone", "/absent"] { _ = try await Self.get(server, path) }
            try await Self.waitForStored(server, 3)
            let moved = try await Self.get(server, "/moved")
            #expect(moved.status == 301)
            #expect(moved.header("Location") == "/new")
            #expect(moved.header("X-Cache") == "HIT")
            #expect(moved.header("Age") != nil)
            #expect(moved.text == "moved")
            let gone = try await Self.get(server, "/gone")
            #expect(gone.status == 410)
            let absent = try await Self.get(server, "/absent")
            #expect(absent.status == 404)
            #expect(absent.header("X-Why") == "nothing")
            #expect(absent.text == "absent")
            let head = try await Self.get(server, "/absent", method: "HEAD")
            #expect(head.status == 404)
            #expect(head.header("Content-Length") == "6")
            #expect(origin.requestCount == 3)
        }
    }

    @Test("RFC 9111 §5.1, §4.2.3: Age is computed on every hit path: in memory, from the volume file, ranges and HEAD")
    func ageOnEveryHitPath() async throws {
        let big = String(repeating: "b", count: 100_000)
        for strategy in [LargeObjectStrategy.sendfile, .read] {
            let origin = try await TestOrigin.answering { request, _ in
                .init(.ok, [("Cache-Control", "max-age=600"), ("Date", Self.date(ago: 10))], body: request.path == "/big" ? big : "small")
            }
            try await Self.withCache(origin, { $0.largeObjectStrategy = strategy }) { server in
                let start = ContinuousClock.now
                _ = try await Self.get(server, "/big")
                _ = try await Self.get(server, "/small")
                try await Self.waitForStored(server, 2)
                let answers = [
                    try await Self.get(server, "/small"), try await Self.get(server, "/big"), try await Self.get(server, "/big", ["Range: bytes=0-9"]),
                    try await Self.get(server, "/big", method: "HEAD"), try await Self.get(server, "/small", ["Range: bytes=1-2"]),
                ]
                // The origin's 10 s plus at most the time since the fills (Date and Age are whole seconds).
                let stored = Int((ContinuousClock.now - start).components.seconds)
                for answer in answers {
                    #expect(answer.header("X-Cache") == "HIT")
                    let age = try #require(answer.header("Age").flatMap { Int($0) })
                    #expect(age >= 10 && age <= 10 + stored + 2, "Age \(age) after \(stored) s")
                }
                #expect(answers[1].body.count == 100_000)
                #expect(answers[2].status == 206)
                #expect(answers[2].text == "bbbbbbbbbb")
                #expect(answers[4].text == "ma")
            }
        }
    }

    @Test("RFC 9111 §4.2, §5.4: repeated plain hits take the fast path with a growing Age until the response is stale; Pragma: no-cache still revalidates")
    func fastHitPath() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            if request.header("If-None-Match") != nil { return .init(.notModified, [("ETag", "\"h\"")]) }
            let maxAge = request.path == "/soon" ? "max-age=3" : "max-age=600"
            return .init(.ok, [("Cache-Control", maxAge), ("ETag", "\"h\""), ("Date", Self.date(ago: 10))], body: "hot")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/hot")
            try await Self.waitForStored(server, 1)
            var ages: [Int] = []
            for _ in 0..<3 {
                let hit = try await Self.get(server, "/hot")
                #expect(hit.header("X-Cache") == "HIT")
                #expect(hit.text == "hot")
                ages.append(hit.header("Age").flatMap { Int($0) } ?? -1)
            }
            #expect(ages.allSatisfy { $0 >= 10 && $0 < 30 })
            #expect(ages == ages.sorted())
            #expect(origin.requestCount == 1)
            #expect(try await Self.get(server, "/hot", ["Pragma: no-cache"]).header("X-Cache") == "REVALIDATED")
            #expect(origin.requestCount == 2)
        }
        let soon = try await TestOrigin.answering { request, _ in
            if request.header("If-None-Match") != nil { return .init(.notModified, [("ETag", "\"s\"")]) }
            return .init(.ok, [("Cache-Control", "max-age=2"), ("ETag", "\"s\"")], body: "soon")
        }
        try await Self.withCache(soon) { server in
            _ = try await Self.get(server, "/soon")
            try await Self.waitForStored(server, 1)
            _ = try await Self.get(server, "/soon")
            _ = try await Self.get(server, "/soon")
            try await Task.sleep(for: .seconds(3))
            // The memo never outlives freshness.
            #expect(try await Self.get(server, "/soon").header("X-Cache") == "REVALIDATED")
        }
    }

    @Test("RFC 9111 §5.2.1.1, §5.2.1.2, §5.2.1.3: request max-age, max-stale and min-fresh decide between the stored response and the origin")
    func requestDirectives() async throws {
        let origin = try await TestOrigin.answering { request, index in
            if request.header("If-None-Match") == "\"d1\"" { return .init(.notModified, [("ETag", "\"d1\"")]) }
            return .init(.ok, [("Cache-Control", "max-age=100"), ("ETag", "\"d1\""), ("Date", Self.date(ago: 110))], body: "stale one")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/d")
            try await Self.waitForStored(server, 1)
            let accepted = try await Self.get(server, "/d", ["Cache-Control: max-stale=60"])
            #expect(accepted.header("X-Cache") == "HIT")
            #expect(accepted.text == "stale one")
            #expect(origin.requestCount == 1)
            let refused = try await Self.get(server, "/d", ["Cache-Control: max-stale=1"])
            #expect(refused.header("X-Cache") == "REVALIDATED")
            #expect(refused.text == "stale one")
            #expect(origin.requests.last?.header("If-None-Match") == "\"d1\"")
        }
        let fresh = try await TestOrigin.answering { request, _ in
            if request.header("If-None-Match") != nil { return .init(.notModified, [("ETag", "\"f\"")]) }
            return .init(.ok, [("Cache-Control", "max-age=100"), ("ETag", "\"f\"")], body: "fresh")
        }
        try await Self.withCache(fresh) { server in
            _ = try await Self.get(server, "/f")
            try await Self.waitForStored(server, 1)
            #expect(try await Self.get(server, "/f").header("X-Cache") == "HIT")
            for directive in ["Cache-Control: max-age=0", "Cache-Control: min-fresh=1000", "Pragma: no-cache"] {
                try await Self.waitForFills(server)
                #expect(try await Self.get(server, "/f", [directive]).header("X-Cache") == "REVALIDATED")
            }
            #expect(fresh.requestCount == 4)
        }
    }

    @Test("RFC 9111 §4.3.1, §4.3.4: a stale response is revalidated with its validators; a 304 refreshes the stored fields and the stored body is served")
    func revalidationWith304() async throws {
        let origin = try await TestOrigin.answering { request, index in
            if index == 0 {
                return .init(
                    .ok, [("Cache-Control", "max-age=1"), ("ETag", "\"e1\""), ("Date", Self.date(ago: 10)), ("X-Version", "1")], body: "body one")
            }
            #expect(request.header("If-None-Match") == "\"e1\"")
            return .init(.notModified, [("ETag", "\"e1\""), ("Cache-Control", "max-age=3600"), ("X-Version", "2")])
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/r")
            try await Self.waitForStored(server, 1)
            let revalidated = try await Self.get(server, "/r")
            #expect(revalidated.status == 200)
            #expect(revalidated.text == "body one")
            #expect(revalidated.header("X-Version") == "2")
            #expect(revalidated.header("X-Cache") == "REVALIDATED")
            // The refreshed fields are stored once the revalidation's fill is released; a request
            // before that would revalidate again.
            try await Self.waitForFills(server)
            let hit = try await Self.eventually({ try await Self.get(server, "/r") }) { $0.header("X-Cache") == "HIT" }
            #expect(hit.header("X-Version") == "2")
            #expect(hit.text == "body one")
            #expect(origin.requestCount == 2)
            #expect(server.server.context.stats.cacheRevalidatedNotModified.load(ordering: .relaxed) == 1)
            let conditional = try await Self.get(server, "/r", ["If-None-Match: \"e1\""])
            #expect(conditional.status == 304)
            #expect(conditional.header("ETag") == "\"e1\"")
        }
    }

    @Test("RFC 9111 §4.3.3: a 200 to a revalidation is relayed and replaces the stored response")
    func revalidationWith200() async throws {
        let origin = try await TestOrigin.answering { _, index in
            if index == 0 { return .init(.ok, [("Cache-Control", "max-age=1"), ("ETag", "\"a\""), ("Date", Self.date(ago: 5))], body: "old") }
            return .init(.ok, [("Cache-Control", "max-age=600"), ("ETag", "\"b\"")], body: "new")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/c")
            try await Self.waitForStored(server, 1)
            let changed = try await Self.get(server, "/c")
            #expect(changed.text == "new")
            #expect(changed.header("ETag") == "\"b\"")
            #expect(origin.requests[1].header("If-None-Match") == "\"a\"")
            let hit = try await Self.eventually({ try await Self.get(server, "/c") }) { $0.header("X-Cache") == "HIT" }
            #expect(hit.text == "new")
            #expect(server.server.context.stats.cacheRevalidatedChanged.load(ordering: .relaxed) == 1)
        }
    }

    @Test("RFC 5861 §3: stale-while-revalidate serves the stale response at once and revalidates it in the background")
    func staleWhileRevalidate() async throws {
        let origin = try await TestOrigin.answering { _, index in
            if index == 0 {
                return .init(
                    .ok, [("Cache-Control", "max-age=1, stale-while-revalidate=60"), ("ETag", "\"s1\""), ("Date", Self.date(ago: 5))],
                    body: "first")
            }
            return .init(.ok, [("Cache-Control", "max-age=600"), ("ETag", "\"s2\"")], body: "second", delay: .milliseconds(200))
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/swr")
            try await Self.waitForStored(server, 1)
            let stale = try await Self.get(server, "/swr")
            #expect(stale.text == "first")
            #expect(stale.header("X-Cache") == "STALE")
            let updated = try await Self.eventually({ try await Self.get(server, "/swr") }) { $0.text == "second" }
            #expect(updated.text == "second")
            #expect(origin.requestCount == 2)
            #expect(origin.requests[1].header("If-None-Match") == "\"s1\"")
        }
    }

    @Test("RFC 5861 §4, RFC 9111 §4.2.4: a revalidation answered 500 serves stale under stale-if-error, else relays the 500")
    func revalidationErrors() async throws {
        let origin = try await TestOrigin.answering { request, index in
            if request.header("If-None-Match") != nil { return .init(.internalServerError, [], body: "broken") }
            let extra = request.path == "/sie" ? ", stale-if-error=600" : ""
            return .init(.ok, [("Cache-Control", "max-age=1" + extra), ("ETag", "\"x\""), ("Date", Self.date(ago: 5))], body: "kept")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/sie")
            _ = try await Self.get(server, "/plain")
            try await Self.waitForStored(server, 2)
            let stale = try await Self.get(server, "/sie")
            #expect(stale.status == 200)
            #expect(stale.text == "kept")
            #expect(stale.header("Warning") == nil)
            let plain = try await Self.get(server, "/plain")
            #expect(plain.status == 500)
            #expect(plain.text == "broken")
        }
    }

    @Test("RFC 9110 §15.6.5: an origin that does not answer in time gets 504; one that is down gets 502")
    func originTimeoutIsGatewayTimeout() async throws {
        let origin = try await TestOrigin.answering { _, _ in .init(.ok, [("Cache-Control", "max-age=60")], body: "late", delay: .seconds(5)) }
        try await Self.withCache(origin, { $0.upstreamTimeout = .milliseconds(300) }) { server in
            let late = try await Self.get(server, "/late")
            #expect(late.status == 504)
            #expect(server.server.context.stats.originErrors.load(ordering: .relaxed) >= 1)
        }
    }

    @Test("RFC 9111 §4.1: responses that vary on Accept-Encoding are stored per variant; Vary: * is never served from the cache")
    func varyStoresVariants() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            if request.path == "/star" { return .init(.ok, [("Cache-Control", "max-age=600"), ("Vary", "*")], body: "star") }
            let encoding = request.header("Accept-Encoding") ?? "none"
            return .init(.ok, [("Cache-Control", "max-age=600"), ("Vary", "Accept-Encoding")], body: "body for \(encoding)")
        }
        try await Self.withCache(origin) { server in
            #expect(try await Self.get(server, "/v", ["Accept-Encoding: gzip"]).text == "body for gzip")
            try await Self.waitForStored(server, 1)
            #expect(try await Self.get(server, "/v", ["Accept-Encoding: br"]).text == "body for br")
            try await Self.waitForStored(server, 2)
            let gzip = try await Self.get(server, "/v", ["Accept-Encoding: gzip"])
            #expect(gzip.text == "body for gzip")
            #expect(gzip.header("X-Cache") == "HIT")
            let br = try await Self.get(server, "/v", ["Accept-Encoding: br"])
            #expect(br.text == "body for br")
            #expect(br.header("X-Cache") == "HIT")
            let none = try await Self.get(server, "/v")
            #expect(none.text == "body for none")
            #expect(origin.requestCount == 3)
            _ = try await Self.get(server, "/star")
            _ = try await Self.get(server, "/star")
            #expect(origin.requestCount == 5)
        }
    }

    @Test("RFC 9110 §13.2.2, RFC 9111 §4.3.2: a hit answers the client's If-None-Match, If-Match and If-Modified-Since from the stored validators")
    func clientConditionalsOnHits() async throws {
        let modified = Self.date(ago: 3600)
        let origin = try await TestOrigin.answering { _, _ in
            .init(.ok, [("Cache-Control", "max-age=600"), ("ETag", "W/\"w1\""), ("Last-Modified", modified)], body: "conditional")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/cond")
            try await Self.waitForStored(server, 1)
            let notModified = try await Self.get(server, "/cond", ["If-None-Match: \"w1\""])
            #expect(notModified.status == 304)
            #expect(notModified.header("ETag") == "W/\"w1\"")
            #expect(notModified.header("Cache-Control") == "max-age=600")
            #expect(try await Self.get(server, "/cond", ["If-None-Match: \"other\""]).status == 200)
            #expect(try await Self.get(server, "/cond", ["If-Match: \"w1\""]).status == 412)
            #expect(try await Self.get(server, "/cond", ["If-Modified-Since: \(Self.date(ago: 10))"]).status == 304)
            #expect(try await Self.get(server, "/cond", ["If-Modified-Since: \(Self.date(ago: 7200))"]).status == 200)
            #expect(origin.requestCount == 1)
        }
    }

    @Test("RFC 9110 §14.2, §13.1.5: ranges of a cached object answer 206; If-Range with another validator answers the whole 200")
    func rangesOnHits() async throws {
        let origin = try await TestOrigin.answering { _, _ in .init(.ok, [("Cache-Control", "max-age=600"), ("ETag", "\"r1\"")], body: "0123456789") }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/range")
            try await Self.waitForStored(server, 1)
            let part = try await Self.get(server, "/range", ["Range: bytes=2-4"])
            #expect(part.status == 206)
            #expect(part.text == "234")
            #expect(part.header("Content-Range") == "bytes 2-4/10")
            #expect(part.header("ETag") == "\"r1\"")
            let matching = try await Self.get(server, "/range", ["Range: bytes=-2", "If-Range: \"r1\""])
            #expect(matching.status == 206)
            #expect(matching.text == "89")
            let other = try await Self.get(server, "/range", ["Range: bytes=-2", "If-Range: \"r0\""])
            #expect(other.status == 200)
            #expect(other.text == "0123456789")
            let multi = try await Self.get(server, "/range", ["Range: bytes=0-1,4-5"])
            #expect(multi.status == 206)
            #expect(multi.header("Content-Type")?.hasPrefix("multipart/byteranges; boundary=") == true)
            #expect(multi.text.contains("Content-Range: bytes 0-1/10\r\n\r\n01"))
            #expect(multi.text.contains("Content-Range: bytes 4-5/10\r\n\r\n45"))
            #expect(multi.header("Age") != nil)
            let unsatisfiable = try await Self.get(server, "/range", ["Range: bytes=50-"])
            #expect(unsatisfiable.status == 416)
            #expect(unsatisfiable.header("Content-Range") == "bytes */10")
        }
    }

    @Test("RFC 9111 §4.4: POST is forwarded with its body, never stored, and its success invalidates the stored GET response and a same-origin Location")
    func unsafeMethodsPassThroughAndInvalidate() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            switch request.method {
            case "POST":
                return .init(.created, [("Location", "/other")], body: "posted \(String(decoding: request.body, as: UTF8.self))")
            case "DELETE":
                return .init(.ok, body: "deleted")
            default:
                return .init(.ok, [("Cache-Control", "max-age=600")], body: "doc \(request.path)")
            }
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/doc")
            _ = try await Self.get(server, "/other")
            try await Self.waitForStored(server, 2)
            #expect(try await Self.get(server, "/doc").header("X-Cache") == "HIT")
            let connection = try await TestConnection(port: server.port)
            await connection.send("POST /doc HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
            let posted = try #require(try await connection.readResponse())
            #expect(posted.status == 201)
            #expect(posted.text == "posted hello")
            #expect(origin.requests.last?.body == Array("hello".utf8))
            #expect(origin.requests.last?.header("Content-Length") == "5")
            let after = try await Self.eventually({ try await Self.get(server, "/doc") }) { $0.header("X-Cache") != "HIT" }
            #expect(after.header("X-Cache") == "MISS")
            let other = try await Self.eventually({ try await Self.get(server, "/other") }) { $0.header("X-Cache") != "HIT" }
            #expect(other.header("X-Cache") == "MISS")
            // The same connection goes on after a forwarded request.
            await connection.send("DELETE /doc HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(try await connection.readResponse()?.text == "deleted")
            let options = try await Self.get(server, "/doc", method: "OPTIONS")
            #expect(options.status == 200)
            let asterisk = try await Self.get(server, "*", method: "OPTIONS")
            #expect(asterisk.status == 200)
            #expect(origin.requests.last?.path == "*")
        }
    }

    @Test("RFC 9110 §15.5.12, §15.5.14: a request body over the limit answers 413, a chunked one 411, and the connection closes")
    func requestBodyLimits() async throws {
        let origin = try await TestOrigin.answering { _, _ in .init(.ok, body: "never") }
        try await Self.withCache(origin) { server in
            let big = try await TestConnection(port: server.port)
            await big.send("PUT /x HTTP/1.1\r\nHost: test\r\nContent-Length: \(9 << 20)\r\n\r\n")
            #expect(try await big.readResponse()?.status == 413)
            #expect(await big.isClosed())
            let chunked = try await TestConnection(port: server.port)
            await chunked.send("POST /x HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            #expect(try await chunked.readResponse()?.status == 411)
            #expect(origin.requestCount == 0)
        }
    }

    @Test("RFC 9111 §4.2, §4.3: a live HLS playlist is revalidated (304) while its segments stay hits")
    func livePlaylistRevalidates() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            if request.path.hasSuffix(".m3u8") {
                if request.header("If-None-Match") == "\"p1\"" { return .init(.notModified, [("ETag", "\"p1\""), ("Cache-Control", "max-age=1")]) }
                return .init(.ok, [("Cache-Control", "max-age=1"), ("ETag", "\"p1\""), ("Date", Self.date(ago: 2))], body: "#EXTM3U\nseg1.ts\n")
            }
            return .init(.ok, [("Cache-Control", "max-age=31536000, immutable")], body: "segment")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/live/index.m3u8")
            _ = try await Self.get(server, "/live/seg1.ts")
            try await Self.waitForStored(server, 2)
            let playlist = try await Self.get(server, "/live/index.m3u8")
            #expect(playlist.text == "#EXTM3U\nseg1.ts\n")
            #expect(playlist.header("X-Cache") == "REVALIDATED")
            #expect(try await Self.get(server, "/live/seg1.ts").header("X-Cache") == "HIT")
            #expect(origin.requests.filter { $0.path.hasSuffix(".ts") }.count == 1)
            #expect(origin.requests.last?.header("If-None-Match") == "\"p1\"")
        }
    }

    @Test("metrics: hits, misses, revalidations, stale serves, origin and cache bytes are counted and exported")
    func cacheMetrics() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            if request.header("If-None-Match") != nil { return .init(.notModified, [("ETag", "\"m\"")]) }
            return .init(.ok, [("Cache-Control", "max-age=1"), ("ETag", "\"m\""), ("Date", Self.date(ago: 5))], body: "12345")
        }
        try await Self.withCache(origin) { server in
            _ = try await Self.get(server, "/m")
            try await Self.waitForStored(server, 1)
            _ = try await Self.get(server, "/m", ["Cache-Control: max-stale=100"])
            _ = try await Self.get(server, "/m")
            let stats = server.server.context.stats
            #expect(stats.cacheMisses.load(ordering: .relaxed) == 1)
            #expect(stats.cacheHits.load(ordering: .relaxed) == 1)
            #expect(stats.cacheRevalidations.load(ordering: .relaxed) == 1)
            #expect(stats.originBytes.load(ordering: .relaxed) == 5)
            #expect(stats.cacheBytesServed.load(ordering: .relaxed) == 10)
            var bytes: [UInt8] = []
            server.prometheus.emit(into: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains("minicache_cache_revalidations_total"))
            #expect(text.contains("minicache_origin_bytes_total"))
        }
    }
}
