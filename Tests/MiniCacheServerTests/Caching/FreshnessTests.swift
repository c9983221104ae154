import HTTPToolkit
import MiniCacheServer
import NIOHTTP1
import Testing

struct FreshnessTests {
    let shared = CacheConfiguration()
    let privateCache = CacheConfiguration(isShared: false)
    let t0 = CacheFixtures.t0

    @Test("RFC 9111 §4.2.1: s-maxage overrides max-age for a shared cache")
    func sMaxAgeShared() {
        let stored = CacheFixtures.stored(200, [("Cache-Control", "max-age=60, s-maxage=600")])
        #expect(stored.freshnessLifetime(shared) == 600)
    }

    @Test("RFC 9111 §5.2.2.10: a private cache ignores s-maxage")
    func sMaxAgePrivate() {
        let stored = CacheFixtures.stored(200, [("Cache-Control", "max-age=60, s-maxage=600")], shared: false)
        #expect(stored.freshnessLifetime(privateCache) == 60)
    }

    @Test("RFC 9111 §5.3: max-age overrides Expires")
    func maxAgeOverExpires() {
        let stored = CacheFixtures.stored(200, [("Cache-Control", "max-age=5"), ("Expires", HTTPDate.format(t0 + 3600))])
        #expect(stored.freshnessLifetime(shared) == 5)
    }

    @Test("RFC 9111 §4.2.1: Expires minus Date is the lifetime")
    func expiresMinusDate() {
        let stored = CacheFixtures.stored(
            200, [("Date", HTTPDate.format(t0 - 100)), ("Expires", HTTPDate.format(t0 + 200))])
        #expect(stored.freshnessLifetime(shared) == 300)
    }

    @Test("RFC 9111 §4.2.1: without Date, Expires is measured from the response time")
    func expiresWithoutDate() {
        let stored = StoredResponse(
            requestHeaders: [:], response: CacheFixtures.response(200, [("Expires", HTTPDate.format(t0 + 50))]),
            requestTime: t0, responseTime: t0)
        #expect(stored.freshnessLifetime(shared) == 50)
    }

    @Test("RFC 9111 §5.3: an invalid Expires such as 0 is in the past", arguments: ["0", "garbage", "-1"])
    func invalidExpires(value: String) {
        let stored = CacheFixtures.stored(200, [("Expires", value), ("Last-Modified", HTTPDate.format(t0 - 86_400))])
        #expect(stored.freshnessLifetime(shared) == 0)
    }

    @Test("RFC 9111 §4.2.1: an invalid max-age makes the response stale even with a future Expires")
    func invalidMaxAge() {
        let stored = CacheFixtures.stored(200, [("Cache-Control", "max-age=abc"), ("Expires", HTTPDate.format(t0 + 3600))])
        #expect(stored.freshnessLifetime(shared) == 0)
    }

    @Test("RFC 9111 §4.2.1: differing Expires lines make the response stale")
    func duplicateExpires() {
        let stored = CacheFixtures.stored(
            200, [("Expires", HTTPDate.format(t0 + 60)), ("Expires", HTTPDate.format(t0 + 3600))])
        #expect(stored.freshnessLifetime(shared) == 0)
    }

    @Test("RFC 9111 §4.2.2: heuristic freshness is 10% of the time since Last-Modified")
    func heuristic() {
        let stored = CacheFixtures.stored(200, [("Last-Modified", HTTPDate.format(t0 - 10_000))])
        #expect(stored.freshnessLifetime(shared) == 1_000)
    }

    @Test("RFC 9111 §4.2.2: heuristic freshness is capped")
    func heuristicCap() {
        let stored = CacheFixtures.stored(200, [("Last-Modified", HTTPDate.format(t0 - 100 * 86_400))])
        #expect(stored.freshnessLifetime(shared) == 86_400)
        #expect(stored.freshnessLifetime(CacheConfiguration(heuristicLimit: 3_600)) == 3_600)
    }

    @Test("RFC 9111 §4.2.2: no heuristic freshness for a status not cacheable by default")
    func noHeuristicFor302() {
        let stored = CacheFixtures.stored(302, [("Last-Modified", HTTPDate.format(t0 - 10_000))])
        #expect(stored.freshnessLifetime(shared) == 0)
    }

    @Test("RFC 9111 §4.2.2: public allows heuristic freshness for any status")
    func publicHeuristic() {
        let stored = CacheFixtures.stored(302, [("Cache-Control", "public"), ("Last-Modified", HTTPDate.format(t0 - 10_000))])
        #expect(stored.freshnessLifetime(shared) == 1_000)
    }

    @Test("RFC 9111 §4.2.3: current age adds resident time to the corrected initial age")
    func ageCalculation() {
        // Sent at t0-3, received at t0 with Date t0-5 and Age 10: apparent age 5, corrected age 10+3.
        let stored = StoredResponse(
            requestHeaders: [:],
            response: CacheFixtures.response(200, [("Date", HTTPDate.format(t0 - 5)), ("Age", "10")]),
            requestTime: t0 - 3, responseTime: t0)
        #expect(stored.currentAge(now: t0) == 13)
        #expect(stored.currentAge(now: t0 + 7) == 20)
    }

    @Test("RFC 9111 §4.2.3: apparent age wins when the Date is older than Age says")
    func apparentAge() {
        let stored = StoredResponse(
            requestHeaders: [:], response: CacheFixtures.response(200, [("Date", HTTPDate.format(t0 - 100))]),
            requestTime: t0, responseTime: t0)
        #expect(stored.currentAge(now: t0) == 100)
    }

    @Test("RFC 9111 §5.1: an invalid Age is ignored, a list uses its first member", arguments: [
        ("abc", Int64(0)), ("-5", 0), ("20, 30", 20), ("7", 7),
    ])
    func ageField(value: String, expected: Int64) {
        let stored = StoredResponse(
            requestHeaders: [:], response: CacheFixtures.response(200, [("Date", HTTPDate.format(t0)), ("Age", value)]),
            requestTime: t0, responseTime: t0)
        #expect(stored.ageValue == expected)
    }
}
