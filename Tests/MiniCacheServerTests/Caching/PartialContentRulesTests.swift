import HTTPToolkit
import MiniCacheServer
import NIOHTTP1
import Testing

struct PartialContentRulesTests {
    typealias F = CacheFixtures

    @Test("RFC 9110 §14.4: a Content-Range byte range parses, with or without its complete length")
    func contentRangeParsing() throws {
        let known = try #require(ContentRange("bytes 4-9/10"))
        #expect(known.first == 4)
        #expect(known.last == 9)
        #expect(known.completeLength == 10)
        #expect(known.count == 6)
        let unknown = try #require(ContentRange("bytes 0-9/*"))
        #expect(unknown.completeLength == nil)
        #expect(unknown.count == 10)
    }

    @Test(
        "RFC 9110 §14.4: unsatisfied, reversed, out-of-length, incomplete and other-unit Content-Range values do not parse",
        arguments: ["bytes */10", "bytes 9-4/10", "bytes 0-10/10", "items 0-1/2", "bytes 0-/10", "bytes -1-2/10", "bytes 0-1", ""])
    func contentRangeRejected(value: String) {
        #expect(ContentRange(value) == nil)
    }

    @Test("RFC 9111 §3.3: a stored 206 holds its range from the first position; one that holds everything is stored as a 200; a body longer than its range is not stored")
    func storedForms() throws {
        let partial = F.stored(206, [("Cache-Control", "max-age=60"), ("Content-Range", "bytes 4-9/10"), ("ETag", "\"a\"")])
        #expect(partial.partialContent?.start == 4)
        #expect(partial.partialContent?.completeLength == 10)
        #expect(partial.storedForm(bodyLength: 6) == partial)
        // Fewer bytes than the range: kept as the bytes it carried (an incomplete response).
        #expect(partial.storedForm(bodyLength: 5) == partial)
        #expect(partial.storedForm(bodyLength: 7) == nil)

        let all = F.stored(206, [("Cache-Control", "max-age=60"), ("Content-Range", "bytes 0-9/10"), ("Content-Length", "10")])
        let whole = try #require(all.storedForm(bodyLength: 10))
        #expect(whole.status == 200)
        #expect(whole.partialContent == nil)
        #expect(whole.headers.first(name: "content-range") == nil)
        #expect(whole.bodyLength == 10)
        #expect(F.stored(200, [("Cache-Control", "max-age=60")]).storedForm(bodyLength: 3)?.status == 200)
    }

    @Test("RFC 9110 §8.8.1, §8.8.2.2: only a strong entity tag, or a Last-Modified a minute before Date, completes a stored part")
    func strongValidators() {
        #expect(F.stored(206, [("ETag", "\"a\"")]).strongValidator == "\"a\"")
        #expect(F.stored(206, [("ETag", "W/\"a\"")]).strongValidator == nil)
        #expect(F.stored(206, [("Last-Modified", HTTPDate.format(F.t0 - 3600))]).strongValidator == HTTPDate.format(F.t0 - 3600))
        #expect(F.stored(206, [("Last-Modified", HTTPDate.format(F.t0 - 10))]).strongValidator == nil)
        #expect(F.stored(206, []).strongValidator == nil)
    }

    @Test("RFC 9111 §3.4, RFC 9110 §15.3.7.3: the rest of a prefix with the same strong validator combines into a 200 whose fields are updated from it")
    func completion() throws {
        let prefix = F.stored(206, [("Cache-Control", "max-age=60"), ("Content-Range", "bytes 0-3/10"), ("ETag", "\"a\""), ("Content-Type", "text/plain"), ("X-Old", "1")])
        let rest = F.response(206, [("Content-Range", "bytes 4-9/10"), ("ETag", "\"a\""), ("Cache-Control", "max-age=600"), ("Content-Length", "6")])
        let whole = try #require(prefix.completion(by: rest, storedLength: 4))
        #expect(whole.status == .ok)
        #expect(whole.headers["cache-control"] == ["max-age=600"])
        #expect(whole.headers.first(name: "content-type") == "text/plain")
        #expect(whole.headers.first(name: "x-old") == "1")
        #expect(whole.headers.first(name: "content-range") == nil)
        #expect(whole.headers["content-length"] == ["10"])

        let otherTag = F.response(206, [("Content-Range", "bytes 4-9/10"), ("ETag", "\"b\"")])
        #expect(prefix.completion(by: otherTag, storedLength: 4) == nil)
        let gap = F.response(206, [("Content-Range", "bytes 5-9/10"), ("ETag", "\"a\"")])
        #expect(prefix.completion(by: gap, storedLength: 4) == nil)
        let short = F.response(206, [("Content-Range", "bytes 4-8/10"), ("ETag", "\"a\"")])
        #expect(prefix.completion(by: short, storedLength: 4) == nil)
        let longer = F.response(206, [("Content-Range", "bytes 4-11/12"), ("ETag", "\"a\"")])
        #expect(prefix.completion(by: longer, storedLength: 4) == nil)
        let weak = F.stored(206, [("Content-Range", "bytes 0-3/10"), ("ETag", "W/\"a\"")])
        #expect(weak.completion(by: F.response(206, [("Content-Range", "bytes 4-9/10"), ("ETag", "W/\"a\"")]), storedLength: 4) == nil)
    }
}
