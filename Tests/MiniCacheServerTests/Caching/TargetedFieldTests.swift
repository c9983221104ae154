import HTTPToolkit
import MiniCacheServer
import NIOCore
import NIOHTTP1
import Testing

/// `CDN-Cache-Control` (RFC 9213) and `Surrogate-Control` as pure functions: parsing, which field
/// wins, and what the cache rules make of them.
struct TargetedFieldTests {
    typealias F = CacheFixtures

    @Test(
        "RFC 8941 §4.2.2: valid Dictionaries parse, anything off the grammar is rejected whole",
        arguments: [
            ("max-age=3600", true), ("foobar, max-age=3600", true), ("private", true), ("a=1;p=2, b=(1 2);q, c=?0", true),
            ("s=\"x\\\"y\", t=tok/en:1, d=1.5, bytes=:aGk=:", true), ("  max-age=1,no-store  ", true),
            ("MaX-aGe=3600", false), ("max-age =100", false), ("max-age= 100", false), ("max-age=10000, &&&&&", false),
            ("max-age=1,", false), ("a=1234567890123456", false), ("a=1.2345", false), ("a=\"unterminated", false), ("", true),
        ])
    func dictionaryGrammar(value: String, valid: Bool) {
        #expect((StructuredFieldDictionary(lines: [value]) != nil) == valid)
    }

    @Test("RFC 8941 §4.2.2: a repeated key keeps its last value; lines are joined")
    func repeatedKeys() throws {
        let dictionary = try #require(StructuredFieldDictionary(lines: ["max-age=10, no-store", "max-age=20"]))
        #expect(dictionary["max-age"] == .integer(20))
        #expect(dictionary["no-store"] == .boolean(true))
        #expect(dictionary.members.map(\.key) == ["max-age", "no-store"])
    }

    @Test("RFC 9213 §2.2: directives of the right type are read, a wrong type invalidates the field")
    func cdnDirectives() throws {
        func directives(_ value: String) -> CacheControl? {
            TargetedField.cdnCacheControl.directives(in: HTTPHeaders([("CDN-Cache-Control", value)]))
        }
        #expect(try #require(directives("max-age=3600")).maxAge == .value(3600))
        #expect(try #require(directives("foobar, s-maxage=5")).sharedMaxAge == .value(5))
        #expect(try #require(directives("max-age=99999999999")).maxAge == .value(2_147_483_648))
        #expect(try #require(directives("private")).isPrivate)
        #expect(try #require(directives("no-cache=\"set-cookie\"")).noCacheFields == ["set-cookie"])
        #expect(try #require(directives("no-store")).noStore)
        #expect(directives("max-age=\"10000\"") == nil)
        #expect(directives("no-store=3") == nil)
        #expect(directives("max-age=-1") == nil)
        #expect(directives("MaX-aGe=3600") == nil)
        // An empty Dictionary is valid but gives nothing: Cache-Control applies (RFC 9213 §2.1).
        #expect(directives("") == nil)
        #expect(TargetedField.cdnCacheControl.directives(in: HTTPHeaders([("Cache-Control", "max-age=1")])) == nil)
    }

    @Test("Surrogate-Control: directives for this surrogate or for all; others' are skipped")
    func surrogateDirectives() throws {
        func directives(_ value: String) -> CacheControl? {
            TargetedField.surrogateControl.directives(in: HTTPHeaders([("Surrogate-Control", value)]))
        }
        #expect(try #require(directives("max-age=60+30")).maxAge == .value(60))
        #expect(try #require(directives("max-age=60;minicache")).maxAge == .value(60))
        #expect(try #require(directives("content=\"ESI/1.0\", no-store-remote")).noStore)
        #expect(directives("max-age=3600;not-for-you") == nil)
        #expect(directives("content=\"ESI/1.0\"") == nil)
    }

    @Test("RFC 9213 §2.1: the first valid targeted field wins over Cache-Control and Expires")
    func targetedFieldWins() {
        let rules = CacheRules()
        let noStoreForCDN = F.response(200, [("Cache-Control", "max-age=10000"), ("CDN-Cache-Control", "no-store")])
        #expect(rules.storability(request: F.request(), response: noStoreForCDN) == .doNotStore(.noStore))
        let freshForCDN = F.response(200, [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=10000")])
        #expect(rules.storability(request: F.request(), response: freshForCDN) == .store)
        #expect(rules.storability(request: F.request(), response: F.response(200, [("CDN-Cache-Control", "private"), ("Cache-Control", "max-age=60")])) == .doNotStore(.private))
        // An invalid targeted field is ignored: Cache-Control applies.
        let invalid = F.response(200, [("CDN-Cache-Control", "max-age=10000, &&&&&"), ("Cache-Control", "no-store")])
        #expect(rules.storability(request: F.request(), response: invalid) == .doNotStore(.noStore))

        let stored = F.stored(200, [("Cache-Control", "max-age=3600"), ("CDN-Cache-Control", "max-age=1"), ("Expires", HTTPDate.format(F.t0 + 10000))])
        #expect(stored.targetedField == .cdnCacheControl)
        #expect(stored.freshnessLifetime(rules.configuration) == 1)
        let withExpiresOnly = F.stored(200, [("CDN-Cache-Control", "no-transform"), ("Expires", HTTPDate.format(F.t0 + 10000))])
        #expect(withExpiresOnly.freshnessLifetime(rules.configuration) == 0)
        #expect(!withExpiresOnly.hasExplicitFreshness(rules.configuration))
        // Surrogate-Control is obeyed only when configured, after CDN-Cache-Control.
        let surrogate = F.response(200, [("Surrogate-Control", "no-store"), ("Cache-Control", "max-age=60")])
        #expect(rules.storability(request: F.request(), response: surrogate) == .store)
        let both = CacheRules(configuration: CacheConfiguration(targetedFields: [.cdnCacheControl, .surrogateControl]))
        #expect(both.storability(request: F.request(), response: surrogate) == .doNotStore(.noStore))
    }

    @Test("The targeted field a stored response obeys survives encoding and a 304 update")
    func storedAcrossEncodingAndRevalidation() throws {
        let rules = CacheRules()
        var stored = F.stored(200, [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600"), ("ETag", "\"a\"")])
        stored.bodyLength = 3
        var buffer = stored.encoded()
        let decoded = try StoredResponse(decoding: &buffer)
        #expect(decoded.targetedField == .cdnCacheControl)
        #expect(decoded.freshnessLifetime(rules.configuration) == 600)
        let notModified = F.response(304, [("ETag", "\"a\""), ("CDN-Cache-Control", "max-age=5")])
        let updated = try #require(rules.updating(decoded, with: notModified, requestTime: F.t0 + 10, responseTime: F.t0 + 11))
        #expect(updated.freshnessLifetime(rules.configuration) == 5)
    }
}
