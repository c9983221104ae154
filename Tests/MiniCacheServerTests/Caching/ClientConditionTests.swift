import HTTPToolkit
import MiniCacheServer
import NIOHTTP1
import Testing

struct ClientConditionTests {
    let rules = CacheRules()
    typealias F = CacheFixtures
    let lastModified = HTTPDate.format(CacheFixtures.t0 - 1_000)
    var stored: StoredResponse { F.stored(200, [("ETag", #""v1""#), ("Last-Modified", lastModified), ("Cache-Control", "max-age=60")]) }

    func check(_ headers: [(String, String)], method: HTTPMethod = .GET) -> CacheRules.ClientConditionResult {
        rules.clientConditions(request: F.request(method, "/a", headers), stored: stored)
    }

    @Test("RFC 9110 §13.1.2: If-None-Match with a matching tag (weak comparison, lists, *) gives 304")
    func ifNoneMatch() {
        #expect(check([("If-None-Match", #""v1""#)]) == .notModified)
        #expect(check([("If-None-Match", #"W/"v1""#)]) == .notModified)
        #expect(check([("If-None-Match", #""x", "v1""#)]) == .notModified)
        #expect(check([("If-None-Match", "*")]) == .notModified)
        #expect(check([("If-None-Match", #""x""#)]) == .proceed)
        #expect(check([("If-None-Match", #""v1""#)], method: .HEAD) == .notModified)
    }

    @Test("RFC 9110 §13.1.3: If-Modified-Since gives 304 when not modified since, ignored with If-None-Match or an invalid date")
    func ifModifiedSince() {
        #expect(check([("If-Modified-Since", lastModified)]) == .notModified)
        #expect(check([("If-Modified-Since", HTTPDate.format(F.t0 - 2_000))]) == .proceed)
        #expect(check([("If-Modified-Since", lastModified), ("If-None-Match", #""x""#)]) == .proceed)
        #expect(check([("If-Modified-Since", "yesterday")]) == .proceed)
    }

    @Test("RFC 9110 §13.1.1: If-Match needs a strong match, else 412")
    func ifMatch() {
        #expect(check([("If-Match", #""v1""#)]) == .proceed)
        #expect(check([("If-Match", #"W/"v1""#)]) == .preconditionFailed)
        #expect(check([("If-Match", #""v2""#)]) == .preconditionFailed)
        #expect(check([("If-Match", "*")]) == .proceed)
    }

    @Test("RFC 9110 §13.1.4: If-Unmodified-Since fails with 412 when modified since")
    func ifUnmodifiedSince() {
        #expect(check([("If-Unmodified-Since", HTTPDate.format(F.t0 - 2_000))]) == .preconditionFailed)
        #expect(check([("If-Unmodified-Since", lastModified)]) == .proceed)
    }
}
