import MiniCacheServer
import NIOHTTP1
import Testing

struct ReuseTests {
    let rules = CacheRules()
    typealias F = CacheFixtures
    var t0: Int64 { F.t0 }

    let validators: [(String, String)] = [("ETag", #""v1""#), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]

    func conditions() -> HTTPHeaders {
        HTTPHeaders([("If-None-Match", #""v1""#), ("If-Modified-Since", "Mon, 01 Jan 2024 00:00:00 GMT")])
    }

    @Test("RFC 9111 §4.2: a fresh stored response is served with its age")
    func fresh() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100")])
        #expect(rules.decide(request: F.request(), stored: stored, now: t0 + 10) == .fresh(age: 11))
    }

    @Test("RFC 9111 §4.3.1: a stale response is revalidated with If-None-Match and If-Modified-Since")
    func staleRevalidates() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100")] + validators)
        #expect(rules.decide(request: F.request(), stored: stored, now: t0 + 100) == .revalidate(conditions: conditions()))
    }

    @Test("RFC 9111 §4: nothing stored is a miss; HEAD is answered from a stored GET")
    func missAndHead() {
        #expect(rules.decide(request: F.request(), stored: nil, now: t0) == .miss)
        let stored = F.stored(200, [("Cache-Control", "max-age=100")])
        #expect(rules.decide(request: F.request(.HEAD), stored: stored, now: t0) == .fresh(age: 1))
        #expect(rules.decide(request: F.request(.POST), stored: stored, now: t0) == .miss)
    }

    @Test("RFC 9111 §5.2.2.4: response no-cache forces revalidation even when fresh")
    func responseNoCache() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100, no-cache")] + validators)
        #expect(rules.decide(request: F.request(), stored: stored, now: t0) == .revalidate(conditions: conditions()))
    }

    @Test("RFC 9111 §5.2.2.4: qualified no-cache serves the response without the named fields")
    func qualifiedNoCache() {
        let stored = F.stored(200, [("Cache-Control", #"max-age=100, no-cache="Set-Cookie""#), ("Set-Cookie", "a=b"), ("X-Keep", "1")])
        #expect(rules.decide(request: F.request(), stored: stored, now: t0) == .fresh(age: 1))
        let headers = rules.headersForReuse(stored, age: 1)
        #expect(headers["set-cookie"].isEmpty)
        #expect(headers["x-keep"] == ["1"])
        #expect(headers["age"] == ["1"])
    }

    @Test("RFC 9111 §5.2.1.4: request no-cache forces revalidation")
    func requestNoCache() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100")] + validators)
        let request = F.request(.GET, "/a", [("Cache-Control", "no-cache")])
        #expect(rules.decide(request: request, stored: stored, now: t0) == .revalidate(conditions: conditions()))
    }

    @Test("RFC 9111 §5.4: Pragma: no-cache without Cache-Control acts as no-cache")
    func pragma() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100")] + validators)
        let pragma = F.request(.GET, "/a", [("Pragma", "no-cache")])
        #expect(rules.decide(request: pragma, stored: stored, now: t0) == .revalidate(conditions: conditions()))
        let both = F.request(.GET, "/a", [("Pragma", "no-cache"), ("Cache-Control", "max-age=1000")])
        #expect(rules.decide(request: both, stored: stored, now: t0) == .fresh(age: 1))
    }

    @Test("RFC 9111 §5.2.1.1: request max-age rejects an older response")
    func requestMaxAge() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100")] + validators)
        let request = F.request(.GET, "/a", [("Cache-Control", "max-age=5")])
        #expect(rules.decide(request: request, stored: stored, now: t0 + 2) == .fresh(age: 3))
        #expect(rules.decide(request: request, stored: stored, now: t0 + 10) == .revalidate(conditions: conditions()))
    }

    @Test("RFC 9111 §5.2.1.3: request min-fresh needs that much freshness left")
    func minFresh() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100")] + validators)
        let request = F.request(.GET, "/a", [("Cache-Control", "min-fresh=50")])
        #expect(rules.decide(request: request, stored: stored, now: t0 + 40) == .fresh(age: 41))
        #expect(rules.decide(request: request, stored: stored, now: t0 + 60) == .revalidate(conditions: conditions()))
    }

    @Test("RFC 9111 §5.2.1.2: request max-stale accepts a stale response within its bound")
    func maxStale() {
        let stored = F.stored(200, [("Cache-Control", "max-age=10")] + validators)
        let bounded = F.request(.GET, "/a", [("Cache-Control", "max-stale=20")])
        #expect(rules.decide(request: bounded, stored: stored, now: t0 + 25) == .staleAcceptedByRequest(age: 26))
        #expect(rules.decide(request: bounded, stored: stored, now: t0 + 40) == .revalidate(conditions: conditions()))
        let unbounded = F.request(.GET, "/a", [("Cache-Control", "max-stale")])
        #expect(rules.decide(request: unbounded, stored: stored, now: t0 + 100_000) == .staleAcceptedByRequest(age: 100_001))
    }

    @Test(
        "RFC 9111 §4.2.4: must-revalidate, proxy-revalidate and s-maxage forbid serving stale in a shared cache",
        arguments: ["max-age=10, must-revalidate", "max-age=10, proxy-revalidate", "s-maxage=10"])
    func forbidStale(cacheControl: String) {
        let stored = F.stored(200, [("Cache-Control", cacheControl + ", stale-while-revalidate=100, stale-if-error=100")] + validators)
        let request = F.request(.GET, "/a", [("Cache-Control", "max-stale")])
        #expect(rules.decide(request: request, stored: stored, now: t0 + 20) == .revalidate(conditions: conditions()))
        #expect(!rules.mayServeStaleOnError(request: request, stored: stored, now: t0 + 20))
    }

    @Test("RFC 9111 §5.2.2.8: proxy-revalidate does not bind a private cache")
    func proxyRevalidatePrivate() {
        let privateRules = CacheRules(configuration: CacheConfiguration(isShared: false))
        let stored = F.stored(200, [("Cache-Control", "max-age=10, proxy-revalidate")] + validators, shared: false)
        let request = F.request(.GET, "/a", [("Cache-Control", "max-stale")])
        #expect(privateRules.decide(request: request, stored: stored, now: t0 + 20) == .staleAcceptedByRequest(age: 21))
    }

    @Test("RFC 9111 §5.2.1.7: only-if-cached answers 504 when nothing usable is stored")
    func onlyIfCached() {
        let request = F.request(.GET, "/a", [("Cache-Control", "only-if-cached")])
        #expect(rules.decide(request: request, stored: nil, now: t0) == .gatewayTimeout)
        let stored = F.stored(200, [("Cache-Control", "max-age=10")] + validators)
        #expect(rules.decide(request: request, stored: stored, now: t0) == .fresh(age: 1))
        #expect(rules.decide(request: request, stored: stored, now: t0 + 20) == .gatewayTimeout)
    }

    @Test("RFC 5861 §3: stale-while-revalidate serves stale within its window and revalidates in the background")
    func staleWhileRevalidate() {
        let stored = F.stored(200, [("Cache-Control", "max-age=10, stale-while-revalidate=30")] + validators)
        #expect(rules.decide(request: F.request(), stored: stored, now: t0 + 20) == .staleWhileRevalidate(age: 21, conditions: conditions()))
        #expect(rules.decide(request: F.request(), stored: stored, now: t0 + 60) == .revalidate(conditions: conditions()))
    }

    @Test("RFC 5861 §4: stale-if-error allows a stale response when the origin fails, within its window")
    func staleIfError() {
        let stored = F.stored(200, [("Cache-Control", "max-age=10, stale-if-error=60")] + validators)
        #expect(rules.mayServeStaleOnError(request: F.request(), stored: stored, now: t0 + 30))
        #expect(!rules.mayServeStaleOnError(request: F.request(), stored: stored, now: t0 + 100))
        let plain = F.stored(200, [("Cache-Control", "max-age=10")] + validators)
        #expect(!rules.mayServeStaleOnError(request: F.request(), stored: plain, now: t0 + 30))
        let asking = F.request(.GET, "/a", [("Cache-Control", "stale-if-error=100")])
        #expect(rules.mayServeStaleOnError(request: asking, stored: plain, now: t0 + 30))
        #expect(CacheRules.isErrorStatus(.serviceUnavailable))
        #expect(!CacheRules.isErrorStatus(.notFound))
    }

    @Test("RFC 9111 §4.1: a stored response is used only when the Vary'd request fields match")
    func vary() {
        let original = F.request(.GET, "/a", [("Accept-Encoding", "gzip")])
        let stored = F.stored(200, [("Cache-Control", "max-age=100"), ("Vary", "Accept-Encoding")], request: original)
        #expect(rules.decide(request: original, stored: stored, now: t0) == .fresh(age: 1))
        let other = F.request(.GET, "/a", [("Accept-Encoding", "br")])
        #expect(rules.decide(request: other, stored: stored, now: t0) == .miss)
        #expect(rules.decide(request: F.request(), stored: stored, now: t0) == .miss)
    }

    @Test("RFC 9111 §4.1: field lines are combined and whitespace normalised before matching")
    func varyNormalisation() {
        let original = F.request(.GET, "/a", [("Accept-Language", "en,  fr")])
        let stored = F.stored(200, [("Cache-Control", "max-age=100"), ("Vary", "accept-language")], request: original)
        let split = F.request(.GET, "/a", [("Accept-Language", "en"), ("accept-language", "fr")])
        #expect(stored.varyMatches(split.headers))
    }

    @Test("RFC 9111 §4.1: an absent field matches only an absent field")
    func varyAbsent() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100"), ("Vary", "X-Mode")])
        #expect(stored.varyMatches(F.request().headers))
        #expect(!stored.varyMatches(F.request(.GET, "/a", [("X-Mode", "")]).headers))
    }

    @Test("RFC 9111 §4.1: Vary: * never matches")
    func varyStarNeverMatches() {
        let stored = F.stored(200, [("Cache-Control", "max-age=100"), ("Vary", "*")])
        #expect(rules.decide(request: F.request(), stored: stored, now: t0) == .miss)
    }
}
