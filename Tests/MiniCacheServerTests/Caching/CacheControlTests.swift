import MiniCacheServer
import NIOHTTP1
import Testing

struct CacheControlTests {
    @Test("RFC 9111 §5.2: directive names are case-insensitive and field lines combine")
    func namesAndLines() {
        let headers = HTTPHeaders([("Cache-Control", "Max-Age=60, PUBLIC"), ("cache-control", "must-revalidate")])
        let cc = CacheControl(headers: headers)
        #expect(cc.maxAge == .value(60))
        #expect(cc.isPublic)
        #expect(cc.mustRevalidate)
        #expect(!cc.noStore)
    }

    @Test("RFC 9111 §5.2: a quoted argument of a numeric directive is accepted")
    func quotedNumber() {
        #expect(CacheControl(#"max-age="30""#).maxAge == .value(30))
        #expect(CacheControl(#"s-maxage = "7""#).sharedMaxAge == .value(7))
    }

    @Test("RFC 9111 §5.2.2.4: qualified no-cache lists field names, commas inside quotes")
    func qualifiedNoCache() {
        let cc = CacheControl(#"no-cache="Set-Cookie, X-Secret", max-age=10"#)
        #expect(!cc.noCache)
        #expect(cc.noCacheFields == ["set-cookie", "x-secret"])
        #expect(cc.maxAge == .value(10))
    }

    @Test("RFC 9111 §5.2.2.7: qualified private lists field names; unqualified is private")
    func qualifiedPrivate() {
        #expect(CacheControl(#"private="set-cookie""#).privateFields == ["set-cookie"])
        #expect(!CacheControl(#"private="set-cookie""#).isPrivate)
        #expect(CacheControl("private").isPrivate)
    }

    @Test("RFC 9111 §4.2.1: duplicate directives with different values are invalid, equal ones kept")
    func duplicates() {
        #expect(CacheControl("max-age=10, max-age=20").maxAge == .invalid)
        #expect(CacheControl("max-age=10", "max-age=10").maxAge == .value(10))
    }

    @Test(
        "RFC 9111 §1.2.2: a non-integer delta-seconds is invalid",
        arguments: ["max-age=abc", "max-age=-1", "max-age=", "max-age", "max-age=1.5", #"max-age="""#])
    func invalidDeltaSeconds(value: String) {
        #expect(CacheControl(value).maxAge == .invalid)
    }

    @Test("RFC 9111 §1.2.2: delta-seconds beyond 2^31 are capped at 2^31")
    func overflow() {
        #expect(CacheControl("max-age=99999999999999999999999").maxAge == .value(2_147_483_648))
    }

    @Test("RFC 9111 §5.2.3: unknown extensions are kept, with quoted arguments containing commas")
    func extensions() {
        let cc = CacheControl(#"community="UCI, the best", max-age=5, x-thing"#)
        #expect(cc.contains("community"))
        #expect(cc.directives.first == CacheControl.Directive(name: "community", argument: "UCI, the best"))
        #expect(cc.contains("x-thing"))
        #expect(cc.maxAge == .value(5))
    }

    @Test("RFC 9111 §5.2.1: request directives max-stale (with and without value), min-fresh, only-if-cached")
    func requestDirectives() {
        #expect(CacheControl("max-stale").maxStale == .value(Int64.max))
        #expect(CacheControl("max-stale=30").maxStale == .value(30))
        #expect(CacheControl("min-fresh=5").minFresh == .value(5))
        #expect(CacheControl("only-if-cached").onlyIfCached)
        #expect(CacheControl("no-store").noStore)
    }

    @Test("RFC 5861: stale-while-revalidate and stale-if-error are parsed")
    func rfc5861() {
        let cc = CacheControl("max-age=1, stale-while-revalidate=30, stale-if-error=600")
        #expect(cc.staleWhileRevalidate == .value(30))
        #expect(cc.staleIfError == .value(600))
    }

    @Test("RFC 9110 §5.6.1: empty list elements are ignored")
    func emptyElements() {
        let cc = CacheControl(", ,no-store,, ")
        #expect(cc.noStore)
        #expect(cc.directives.count == 1)
    }
}
