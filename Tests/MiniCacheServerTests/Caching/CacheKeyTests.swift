import MiniCacheServer
import NIOCore
import NIOHTTP1
import Testing

struct CacheKeyTests {
    typealias F = CacheFixtures

    @Test("RFC 9111 §2: HEAD shares GET's key; host case and default port are normalised; fragments dropped")
    func primaryKey() throws {
        let get = try #require(CacheKey(request: F.request(.GET, "/a?x=1")))
        let head = try #require(CacheKey(request: F.request(.HEAD, "/a?x=1")))
        #expect(get == head)
        #expect(CacheKey(method: .GET, scheme: "HTTP", authority: "Example.COM:80", target: "/a?x=1#frag") == get)
        #expect(CacheKey(method: .GET, scheme: "http", authority: "example.com:8080", target: "/a?x=1") != get)
        #expect(CacheKey(method: .GET, scheme: "http", authority: "example.com", target: "/a?x=2") != get)
        #expect(get.primaryDigest == head.primaryDigest)
    }

    @Test("RFC 9112 §3.2.2: an absolute-form target gives its own authority")
    func absoluteForm() throws {
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "http://Origin.example:80/x?y", headers: ["Host": "other"])
        let key = try #require(CacheKey(request: request))
        #expect(key.authority == "origin.example")
        #expect(key.target == "/x?y")
        #expect(CacheKey(request: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x")) == nil)
    }

    @Test("RFC 9111 §4.1: the secondary key separates variants; absent differs from empty")
    func secondaryKey() throws {
        let key = try #require(CacheKey(request: F.request()))
        let vary = VarySelector(names: ["Accept-Encoding"])
        let gzip = key.digest(vary: vary, requestHeaders: ["Accept-Encoding": "gzip"])
        let br = key.digest(vary: vary, requestHeaders: ["Accept-Encoding": "br"])
        let absent = key.digest(vary: vary, requestHeaders: [:])
        let empty = key.digest(vary: vary, requestHeaders: ["Accept-Encoding": ""])
        #expect(Set([gzip, br, absent, empty]).count == 4)
        #expect(key.digest() == key.primaryDigest)
        #expect(VarySelector(names: ["B", "a", "b"]) == VarySelector(names: ["A", "b"]))
    }

    @Test("the digest is the SHA-256 of the key bytes")
    func sha256() {
        #expect(CacheDigest.sha256(of: Array("abc".utf8)).description
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let key = CacheKey(method: .GET, scheme: "http", authority: "h", target: "/p")
        #expect(key.primaryBytes == Array("GET\0http\0h\0/p".utf8))
        #expect(key.primaryDigest.bytes.count == 32)
    }
}
