import HTTPToolkit
import MiniCacheServer
import NIOHTTP1
import Testing

struct ValidationTests {
    let rules = CacheRules()
    typealias F = CacheFixtures
    var t0: Int64 { F.t0 }

    @Test("RFC 9111 §4.3.1: the conditional request carries the cache's validators, not the client's")
    func conditionalRequest() {
        let stored = F.stored(200, [("Cache-Control", "max-age=1"), ("ETag", #""v1""#), ("Last-Modified", HTTPDate.format(t0 - 50))])
        let client = F.request(.GET, "/a", [("If-None-Match", #""other""#), ("Range", "bytes=0-1"), ("Accept", "*/*")])
        let head = rules.conditionalRequest(for: client, stored: stored)
        #expect(head.headers["if-none-match"] == [#""v1""#])
        #expect(head.headers["if-modified-since"] == [HTTPDate.format(t0 - 50)])
        #expect(head.headers["range"].isEmpty)
        #expect(head.headers["accept"] == ["*/*"])
    }

    @Test("RFC 9111 §3.2: a 304 replaces stored fields, keeps Content-Length and takes the new times")
    func update() throws {
        let stored = F.stored(200, [
            ("Cache-Control", "max-age=10"), ("ETag", #""v1""#), ("Content-Length", "5"), ("X-Old", "1"), ("Content-Type", "text/plain"),
        ])
        let notModified = F.response(304, [
            ("Cache-Control", "max-age=600"), ("ETag", #""v1""#), ("Content-Length", "0"), ("Date", HTTPDate.format(t0 + 100)),
            ("Connection", "close"), ("X-New", "2"),
        ])
        let updated = try #require(rules.updating(stored, with: notModified, requestTime: t0 + 99, responseTime: t0 + 100))
        #expect(updated.status == 200)
        #expect(updated.headers["content-length"] == ["5"])
        #expect(updated.headers["cache-control"] == ["max-age=600"])
        #expect(updated.headers["x-old"] == ["1"])
        #expect(updated.headers["x-new"] == ["2"])
        #expect(updated.headers["connection"].isEmpty)
        #expect(updated.headers["content-type"] == ["text/plain"])
        #expect(updated.responseTime == t0 + 100)
        #expect(updated.freshnessLifetime(CacheConfiguration()) == 600)
        #expect(rules.decide(request: F.request(), stored: updated, now: t0 + 110) == .fresh(age: 11))
    }

    @Test("RFC 9111 §4.3.4: a 304 with a different entity tag does not update the stored response")
    func mismatch() {
        let stored = F.stored(200, [("Cache-Control", "max-age=10"), ("ETag", #""v1""#)])
        #expect(rules.updating(stored, with: F.response(304, [("ETag", #""v2""#)]), requestTime: t0, responseTime: t0) == nil)
        #expect(rules.updating(stored, with: F.response(304, [("ETag", #"W/"v1""#)]), requestTime: t0, responseTime: t0) != nil)
        let dated = F.stored(200, [("Last-Modified", HTTPDate.format(t0 - 10))])
        #expect(rules.updating(dated, with: F.response(304, [("Last-Modified", HTTPDate.format(t0))]), requestTime: t0, responseTime: t0) == nil)
    }

    @Test("RFC 9110 §8.8.3.2: weak comparison ignores W/ but not the opaque tag")
    func weakComparison() {
        #expect(CacheRules.weakCompare(#"W/"a""#, #""a""#))
        #expect(!CacheRules.weakCompare(#""a""#, #""b""#))
    }
}
