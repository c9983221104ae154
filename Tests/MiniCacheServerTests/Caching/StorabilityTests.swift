import HTTPToolkit
import MiniCacheServer
import NIOHTTP1
import Testing

struct StorabilityTests {
    let rules = CacheRules()
    typealias F = CacheFixtures

    @Test("RFC 9111 §3: a 200 with max-age to a GET is stored")
    func plainStore() {
        #expect(rules.storability(request: F.request(), response: F.response(200, [("Cache-Control", "max-age=60")])) == .store)
    }

    @Test("RFC 9111 §3: only GET responses are stored (a HEAD response has no body)", arguments: [HTTPMethod.HEAD, .POST, .PUT, .DELETE, .OPTIONS])
    func methods(method: HTTPMethod) {
        let verdict = rules.storability(request: F.request(method), response: F.response(200, [("Cache-Control", "max-age=60")]))
        #expect(verdict == .doNotStore(.method))
    }

    @Test("RFC 9111 §5.2.2.5: no-store in the response prevents storing")
    func responseNoStore() {
        let verdict = rules.storability(request: F.request(), response: F.response(200, [("Cache-Control", "max-age=60, no-store")]))
        #expect(verdict == .doNotStore(.noStore))
    }

    @Test("RFC 9111 §5.2.1.5: no-store in the request prevents storing")
    func requestNoStore() {
        let verdict = rules.storability(
            request: F.request(.GET, "/a", [("Cache-Control", "no-store")]),
            response: F.response(200, [("Cache-Control", "max-age=60")]))
        #expect(verdict == .doNotStore(.noStore))
    }

    @Test("RFC 9111 §5.2.2.3: must-understand with an understood status overrides no-store")
    func mustUnderstand() {
        let verdict = rules.storability(
            request: F.request(), response: F.response(200, [("Cache-Control", "max-age=60, no-store, must-understand")]))
        #expect(verdict == .store)
    }

    @Test("RFC 9111 §5.2.2.7: a shared cache does not store private responses; a private cache does")
    func privateResponses() {
        let response = F.response(200, [("Cache-Control", "private, max-age=60")])
        #expect(rules.storability(request: F.request(), response: response) == .doNotStore(.private))
        let privateRules = CacheRules(configuration: CacheConfiguration(isShared: false))
        #expect(privateRules.storability(request: F.request(), response: response) == .store)
    }

    @Test("RFC 9111 §3.5: a request with Authorization is stored by a shared cache only with public, s-maxage or must-revalidate")
    func authorization() {
        let request = F.request(.GET, "/a", [("Authorization", "Bearer x")])
        #expect(rules.storability(request: request, response: F.response(200, [("Cache-Control", "max-age=60")])) == .doNotStore(.authorization))
        for allowing in ["public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"] {
            #expect(rules.storability(request: request, response: F.response(200, [("Cache-Control", allowing)])) == .store)
        }
    }

    @Test("RFC 9111 §3.3: a 206 with one byte range of known complete length is stored, unless partial content storage is off")
    func partialContent() {
        let response = F.response(206, [("Cache-Control", "max-age=60"), ("Content-Range", "bytes 0-9/100")])
        #expect(rules.storability(request: F.request(), response: response) == .store)
        let off = CacheRules(configuration: CacheConfiguration(storesPartialContent: false))
        #expect(off.storability(request: F.request(), response: response) == .doNotStore(.status))
        for range in ["bytes 0-9/*", "bytes */100", "bytes 9-0/100", "bytes 0-100/100", "items 0-9/100"] {
            let unknown = F.response(206, [("Cache-Control", "max-age=60"), ("Content-Range", range)])
            #expect(rules.storability(request: F.request(), response: unknown) == .doNotStore(.status), "\(range)")
        }
        let multipart = F.response(206, [("Cache-Control", "max-age=60"), ("Content-Type", "multipart/byteranges; boundary=x")])
        #expect(rules.storability(request: F.request(), response: multipart) == .doNotStore(.status))
    }

    @Test("RFC 9111 §3: 304, 1xx and unknown statuses are not stored", arguments: [304, 100, 299, 599])
    func unstorableStatuses(status: Int) {
        let verdict = rules.storability(request: F.request(), response: F.response(status, [("Cache-Control", "max-age=60")]))
        #expect(verdict == .doNotStore(.status))
    }

    @Test(
        "RFC 9110 §15.1: cacheable-by-default statuses are stored with only a validator",
        arguments: [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
    func cacheableByDefault(status: Int) {
        let verdict = rules.storability(request: F.request(), response: F.response(status, [("ETag", #""v1""#)]))
        #expect(verdict == .store)
    }

    @Test("RFC 9111 §3: a status not cacheable by default needs explicit freshness", arguments: [302, 307, 403, 500, 503])
    func notByDefault(status: Int) {
        #expect(rules.storability(request: F.request(), response: F.response(status, [("ETag", #""v1""#)])) == .doNotStore(.notCacheableByDefault))
        #expect(rules.storability(request: F.request(), response: F.response(status, [("Cache-Control", "max-age=5")])) == .store)
        #expect(rules.storability(request: F.request(), response: F.response(status, [("Expires", HTTPDate.format(F.t0))])) == .store)
    }

    @Test("RFC 9111 §3: a response without freshness or validator is not stored by default (configurable)")
    func unvalidatable() {
        let response = F.response(200, [("Content-Type", "text/plain")])
        #expect(rules.storability(request: F.request(), response: response) == .doNotStore(.unvalidatable))
        let permissive = CacheRules(configuration: CacheConfiguration(storesUnvalidatableResponses: true))
        #expect(permissive.storability(request: F.request(), response: response) == .store)
    }

    @Test("RFC 9111 §4.1: a response with Vary: * is not stored")
    func varyStar() {
        let verdict = rules.storability(request: F.request(), response: F.response(200, [("Cache-Control", "max-age=60"), ("Vary", "*")]))
        #expect(verdict == .doNotStore(.varyWildcard))
    }

    @Test("RFC 9111 §3.1: hop-by-hop fields, fields named by Connection and private=\"…\" fields are not stored")
    func storedFields() {
        let stored = F.stored(200, [
            ("Cache-Control", #"max-age=60, private="X-User""#), ("Connection", "close, X-Hop"), ("X-Hop", "1"),
            ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("X-User", "alice"), ("Content-Type", "text/plain"),
        ])
        #expect(stored.headers["x-hop"].isEmpty)
        #expect(stored.headers["keep-alive"].isEmpty)
        #expect(stored.headers["transfer-encoding"].isEmpty)
        #expect(stored.headers["connection"].isEmpty)
        #expect(stored.headers["x-user"].isEmpty)
        #expect(stored.headers["content-type"] == ["text/plain"])
    }

    @Test("RFC 9111 §3, §3.5: a response is shared with coalesced requests unless it is personal")
    func sharingPendingResponses() {
        #expect(rules.maySharePending(request: F.request(), response: F.response(200, [("Cache-Control", "max-age=60")])))
        #expect(rules.maySharePending(request: F.request(), response: F.response(503)))
        #expect(!rules.maySharePending(request: F.request(), response: F.response(200, [("Cache-Control", "private")])))
        #expect(!rules.maySharePending(request: F.request(), response: F.response(200, [("Cache-Control", "no-store")])))
        #expect(!rules.maySharePending(request: F.request(), response: F.response(200, [("Set-Cookie", "s=1")])))
        #expect(!rules.maySharePending(request: F.request(), response: F.response(200, [("Vary", "*")])))
        let authorized = F.request(.GET, "/a", [("Authorization", "Basic eDp5")])
        #expect(!rules.maySharePending(request: authorized, response: F.response(200, [("Cache-Control", "max-age=60")])))
        #expect(rules.maySharePending(request: authorized, response: F.response(200, [("Cache-Control", "public, max-age=60")])))
    }
}
