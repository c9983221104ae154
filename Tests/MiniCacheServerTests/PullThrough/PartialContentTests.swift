import HTTPToolkit
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import MiniCacheServer

/// Partial content through the cache (RFC 9111 §3.3, §3.4; RFC 9110 §14, §15.3.7), end to end:
/// an origin that answers ranges on 127.0.0.1:0, a real volume, the server on real sockets.
struct PartialContentTests {
    static let content = (0..<100).map { String(UnicodeScalar(UInt8(48 + $0 % 43))) }.joined()

    /// An origin serving `content` (or what `version` gives for the request number) with
    /// ranges: `bytes=a-b`, `bytes=a-` and `bytes=-n` answer 206 unless `If-Range` names another
    /// validator (then 200, RFC 9110 §13.1.5).
    static func rangedOrigin(
        etag: @escaping @Sendable (Int) -> String = { _ in "\"v1\"" },
        content: @escaping @Sendable (Int) -> String = { _ in PartialContentTests.content }
    ) async throws -> TestOrigin {
        try await TestOrigin.answering { request, index in
            let body = Array(content(index).utf8)
            let tag = etag(index)
            var fields = [("Cache-Control", "max-age=3600"), ("ETag", tag), ("Content-Type", "text/plain")]
            let ifRange = request.header("If-Range")
            guard let range = request.header("Range"), ifRange == nil || ifRange == tag,
                let bounds = Self.bounds(range, length: body.count)
            else { return .init(.ok, fields, body: String(decoding: body, as: UTF8.self)) }
            fields.append(("Content-Range", "bytes \(bounds.lowerBound)-\(bounds.upperBound - 1)/\(body.count)"))
            return .init(.partialContent, fields, body: String(decoding: body[bounds], as: UTF8.self))
        }
    }

    static func bounds(_ range: String, length: Int) -> Range<Int>? {
        guard case .ranges(let list) = ByteRanges.resolve(Array(range.utf8), length: Int64(length)), list.count == 1 else { return nil }
        return Int(list[0].lowerBound)..<Int(list[0].upperBound)
    }

    static func slice(_ range: Range<Int>) -> String {
        String(Self.content.dropFirst(range.lowerBound).prefix(range.count))
    }

    @Test("RFC 9111 §3.3: a range miss asks the origin for that range and stores its 206; ranges inside it are hits, others go to the origin")
    func rangeMissStoresPartialAndServesInside() async throws {
        let origin = try await Self.rangedOrigin()
        try await CachePathTests.withCache(origin) { server in
            let miss = try await CachePathTests.get(server, "/p", ["Range: bytes=10-59"])
            #expect(miss.status == 206)
            #expect(miss.header("Content-Range") == "bytes 10-59/100")
            #expect(miss.text == Self.slice(10..<60))
            #expect(origin.requests.first?.header("Range") == "bytes=10-59")
            try await CachePathTests.waitForStored(server, 1)

            for (range, bounds) in [("bytes=20-29", 20..<30), ("bytes=10-59", 10..<60), ("bytes=50-59", 50..<60)] {
                let hit = try await CachePathTests.get(server, "/p", ["Range: \(range)"])
                #expect(hit.status == 206)
                #expect(hit.header("X-Cache") == "HIT")
                #expect(hit.header("Content-Range") == "bytes \(bounds.lowerBound)-\(bounds.upperBound - 1)/100")
                #expect(hit.header("Content-Length") == String(bounds.count))
                #expect(hit.header("ETag") == "\"v1\"")
                #expect(hit.text == Self.slice(bounds))
            }
            #expect(origin.requestCount == 1)

            // Outside the stored range: the origin, which is asked for the whole response (the
            // stored part does not start the representation, so it cannot be completed).
            let outside = try await CachePathTests.get(server, "/p", ["Range: bytes=55-70"])
            #expect(outside.status == 206)
            #expect(outside.header("Content-Range") == "bytes 55-70/100")
            #expect(outside.text == Self.slice(55..<71))
            #expect(origin.requestCount == 2)
            #expect(origin.requests.last?.header("Range") == nil)
        }
    }

    @Test("RFC 9111 §3.4, RFC 9110 §15.3.7.3: a stored prefix is completed with Range: bytes=N- and If-Range, and the combined 200 is served and stored")
    func prefixIsCompletedAndStoredWhole() async throws {
        let origin = try await Self.rangedOrigin()
        try await CachePathTests.withCache(origin) { server in
            let first = try await CachePathTests.get(server, "/c", ["Range: bytes=0-39"])
            #expect(first.status == 206)
            try await CachePathTests.waitForStored(server, 1)

            let whole = try await CachePathTests.get(server, "/c")
            #expect(whole.status == 200)
            #expect(whole.text == Self.content)
            #expect(whole.header("Content-Range") == nil)
            #expect(whole.header("Content-Type") == "text/plain")
            let completion = try #require(origin.requests.last)
            #expect(origin.requestCount == 2)
            #expect(completion.header("Range") == "bytes=40-")
            #expect(completion.header("If-Range") == "\"v1\"")
            try await CachePathTests.waitForStored(server, 2)
            // The stored prefix is not counted again as bytes from the origin: 40, then the other 60.
            #expect(server.server.context.stats.originBytes.load(ordering: .relaxed) == 100)

            let hit = try await CachePathTests.get(server, "/c")
            #expect(hit.status == 200)
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == Self.content)
            let tail = try await CachePathTests.get(server, "/c", ["Range: bytes=90-"])
            #expect(tail.status == 206)
            #expect(tail.header("X-Cache") == "HIT")
            #expect(tail.text == Self.slice(90..<100))
            #expect(origin.requestCount == 2)
        }
    }

    @Test("RFC 9111 §3.4: a range past a stored prefix is answered from the completed response, cut to the range")
    func rangePastPrefixIsCompleted() async throws {
        let origin = try await Self.rangedOrigin()
        try await CachePathTests.withCache(origin) { server in
            _ = try await CachePathTests.get(server, "/r", ["Range: bytes=0-19"])
            try await CachePathTests.waitForStored(server, 1)
            let part = try await CachePathTests.get(server, "/r", ["Range: bytes=15-29"])
            #expect(part.status == 206)
            #expect(part.header("Content-Range") == "bytes 15-29/100")
            #expect(part.text == Self.slice(15..<30))
            #expect(origin.requests.last?.header("Range") == "bytes=20-")
            try await CachePathTests.waitForStored(server, 2)
            #expect(try await CachePathTests.get(server, "/r").text == Self.content)
            #expect(origin.requestCount == 2)
        }
    }

    @Test("RFC 9110 §13.1.5: when the representation changed, If-Range fails and the origin's whole 200 is served and stored, never combined")
    func changedRepresentationIsNotCombined() async throws {
        let changed = String(Self.content.reversed())
        let origin = try await Self.rangedOrigin(etag: { $0 == 0 ? "\"v1\"" : "\"v2\"" }, content: { $0 == 0 ? Self.content : changed })
        try await CachePathTests.withCache(origin) { server in
            _ = try await CachePathTests.get(server, "/x", ["Range: bytes=0-49"])
            try await CachePathTests.waitForStored(server, 1)
            let whole = try await CachePathTests.get(server, "/x")
            #expect(whole.status == 200)
            #expect(whole.text == changed)
            #expect(whole.header("ETag") == "\"v2\"")
            #expect(origin.requests.last?.header("If-Range") == "\"v1\"")
            try await CachePathTests.waitForStored(server, 2)
            let hit = try await CachePathTests.get(server, "/x")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == changed)
        }
    }

    @Test("RFC 9110 §15.3.7.3: a 206 that does not carry the stored strong validator is not combined (502) and the stored part is dropped; a weak one is never completed")
    func partsWithoutSameStrongValidatorAreNotCombined() async throws {
        // An origin that ignores If-Range and answers another entity tag.
        let origin = try await TestOrigin.answering { request, index in
            let tag = request.path == "/weak" ? "W/\"w\"" : index == 0 ? "\"v1\"" : "\"v2\""
            var fields = [("Cache-Control", "max-age=3600"), ("ETag", tag)]
            guard let range = request.header("Range"), let bounds = Self.bounds(range, length: 100) else {
                return .init(.ok, fields, body: Self.content)
            }
            fields.append(("Content-Range", "bytes \(bounds.lowerBound)-\(bounds.upperBound - 1)/100"))
            return .init(.partialContent, fields, body: Self.slice(bounds))
        }
        try await CachePathTests.withCache(origin) { server in
            _ = try await CachePathTests.get(server, "/other", ["Range: bytes=0-49"])
            try await CachePathTests.waitForStored(server, 1)
            let refused = try await CachePathTests.get(server, "/other")
            #expect(refused.status == 502)
            #expect(origin.requests.last?.header("Range") == "bytes=50-")
            // The stored part was dropped: the next request fetches the whole response.
            let fetched = try await CachePathTests.get(server, "/other")
            #expect(fetched.status == 200)
            #expect(fetched.text == Self.content)
            #expect(origin.requests.last?.header("Range") == nil)
            try await CachePathTests.waitForStored(server, 2)

            _ = try await CachePathTests.get(server, "/weak", ["Range: bytes=0-49"])
            try await CachePathTests.waitForStored(server, 3)
            let whole = try await CachePathTests.get(server, "/weak")
            #expect(whole.status == 200)
            #expect(whole.text == Self.content)
            #expect(origin.requests.last?.header("Range") == nil)
            #expect(origin.requests.last?.header("If-Range") == nil)
        }
    }

    @Test("RFC 9111 §3.3: a 206 holding the whole representation is stored as the 200 it stands for")
    func wholeRangeIsStoredAsComplete() async throws {
        let origin = try await Self.rangedOrigin()
        try await CachePathTests.withCache(origin) { server in
            let first = try await CachePathTests.get(server, "/w", ["Range: bytes=0-99"])
            #expect(first.status == 206)
            #expect(first.text == Self.content)
            #expect(origin.requests.first?.header("Range") == "bytes=0-99")
            try await CachePathTests.waitForStored(server, 1)
            let hit = try await CachePathTests.get(server, "/w")
            #expect(hit.status == 200)
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.header("Content-Range") == nil)
            #expect(hit.header("Content-Length") == "100")
            #expect(hit.text == Self.content)
            #expect(origin.requestCount == 1)
        }
    }

    @Test("RFC 9110 §14.2: a miss with Range: bytes=0- (ffmpeg, media elements) asks for the whole response: a plain request while its fill is held for the store joins it, one origin fetch")
    func openRangeFromStartIsThePlainMiss() async throws {
        let origin = try await Self.rangedOrigin()
        let volume = try TestVolume(sizeMiB: 8)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url }) { server in
            // The store cannot commit: the fill stays held after its fetch ended.
            let block = try StoreBlock(volume: volume.path)
            defer { block.release() }
            let ranged = try await CachePathTests.get(server, "/seg", ["Range: bytes=0-"])
            #expect(ranged.status == 206)
            #expect(ranged.header("Content-Range") == "bytes 0-99/100")
            #expect(ranged.text == Self.content)
            #expect(origin.requests.first?.header("Range") == nil)
            let plain = try await CachePathTests.get(server, "/seg")
            #expect(plain.status == 200)
            #expect(plain.header("X-Cache") == "COALESCED")
            #expect(plain.text == Self.content)
            let again = try await CachePathTests.get(server, "/seg", ["Range: bytes=0-"])
            #expect(again.status == 206)
            #expect(again.header("X-Cache") == "COALESCED")
            #expect(again.text == Self.content)
            #expect(origin.requestCount == 1)
            block.release()
            try await CachePathTests.waitForStored(server, 1)
            try await CachePathTests.waitForFills(server)
            let hit = try await CachePathTests.get(server, "/seg")
            #expect(hit.status == 200)
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == Self.content)
            #expect(origin.requestCount == 1)
        }
    }

    @Test("RFC 9111 §3.3: a 206 that arrives after the whole response was stored does not replace it")
    func lateRangeDoesNotReplaceWhole() async throws {
        let origin = try await TestOrigin.answering { request, _ in
            let fields = [("Cache-Control", "max-age=3600"), ("ETag", "\"v1\"")]
            guard request.header("Range") != nil else { return .init(.ok, fields, body: Self.content) }
            return .init(.partialContent, fields + [("Content-Range", "bytes 0-9/100")], body: Self.slice(0..<10), delay: .milliseconds(300))
        }
        try await CachePathTests.withCache(origin) { server in
            let ranged = try await TestConnection(port: server.port)
            #expect(await ranged.send("GET /late HTTP/1.1\r\nHost: test\r\nRange: bytes=0-9\r\n\r\n"))
            for _ in 0..<1000 where origin.requestCount < 1 { try await Task.sleep(for: .milliseconds(10)) }
            let whole = try await CachePathTests.get(server, "/late")
            #expect(whole.status == 200)
            try await CachePathTests.waitForStored(server, 1)
            let part = try #require(try await ranged.readResponse())
            #expect(part.status == 206)
            #expect(part.text == Self.slice(0..<10))
            try await CachePathTests.waitForFills(server)
            let hit = try await CachePathTests.get(server, "/late")
            #expect(hit.status == 200)
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.text == Self.content)
            #expect(origin.requestCount == 2)
        }
    }
}
