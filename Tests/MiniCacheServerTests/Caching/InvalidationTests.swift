import MiniCacheServer
import NIOHTTP1
import Testing

struct InvalidationTests {
    let rules = CacheRules()
    typealias F = CacheFixtures
    let key = CacheKey(method: .POST, scheme: "http", authority: "example.com", target: "/dir/item?x=1")

    func target(_ keys: [CacheKey]) -> [String] { keys.map(\.target) }

    @Test("RFC 9111 §4.4: an unsafe method with a 2xx invalidates the target URI")
    func target() {
        let keys = rules.invalidatedKeys(request: F.request(.POST, "/dir/item?x=1"), key: key, response: F.response(201))
        #expect(target(keys) == ["/dir/item?x=1"])
        #expect(keys.allSatisfy { $0.method == "GET" })
    }

    @Test("RFC 9111 §4.4: same-origin Location and Content-Location are invalidated, other origins not")
    func locations() {
        let response = F.response(303, [("Location", "http://EXAMPLE.com:80/other"), ("Content-Location", "sibling")])
        let keys = rules.invalidatedKeys(request: F.request(.PUT, "/dir/item?x=1"), key: key, response: response)
        #expect(target(keys) == ["/dir/item?x=1", "/other", "/dir/sibling"])
        let foreign = F.response(200, [("Location", "http://evil.example/dir/item"), ("Content-Location", "https://example.com/x")])
        #expect(target(rules.invalidatedKeys(request: F.request(.DELETE), key: key, response: foreign)) == ["/dir/item?x=1"])
        let relative = F.response(200, [("Location", "//example.com/abs"), ("Content-Location", "mailto:x@y")])
        #expect(target(rules.invalidatedKeys(request: F.request(.PATCH), key: key, response: relative)) == ["/dir/item?x=1", "/abs"])
    }

    @Test("RFC 9111 §4.4: safe methods and error responses invalidate nothing")
    func nothing() {
        #expect(rules.invalidatedKeys(request: F.request(.GET), key: key, response: F.response(200)).isEmpty)
        #expect(rules.invalidatedKeys(request: F.request(.POST), key: key, response: F.response(500)).isEmpty)
        #expect(rules.invalidatedKeys(request: F.request(.POST), key: key, response: F.response(404)).isEmpty)
    }
}
