import HTTPToolkit
import Logging
import Foundation
import MiniCacheTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Prometheus
import SHFS
import Synchronization
import Testing

@testable import MiniCacheServer

/// Parses `text` as one request head and gives it, with its bytes, to `body`.
func withRequest<T>(_ text: String, _ body: (RequestHead, UnsafeRawBufferPointer) throws -> T) throws -> T {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes { raw in
        guard case .request(let head) = HTTPRequestParser().parse(raw) else {
            throw TestClientError(description: "not a complete request: \(text)")
        }
        return try body(head, raw)
    }
}

/// The representation and selection of a plan, nil for other plans.
func parts(of plan: ResponsePlan) -> (Representation, Representation.Selection)? {
    guard case .representation(let representation, let selection) = plan else { return nil }
    return (representation, selection)
}

/// The volume's answers as plans: no channel, no socket.
@Suite struct VolumeResponderTests {
    static let mount = try! MountedVolume(
        path: TestVolume.shared.path, configuration: ServerConfiguration(), registry: StatsRegistry(),
        stats: ServerStats(startTime: 0, factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())),
        logger: Logger(label: "responder-test")
    ).current

    func plan(_ text: String, mount: Mount = Self.mount) throws -> ResponsePlan {
        let responder = Responder(
            cache: nil, upstream: UpstreamRelay(group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(1),
                stats: ServerStats(startTime: 0, factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())), logger: Logger(label: "t")),
            registry: StatsRegistry())
        return try withRequest(text) { head, bytes in responder.respond(to: head, in: bytes, mount: mount, on: EmbeddedEventLoop()) }
    }

    func selection(_ text: String) throws -> Representation.Selection? {
        try parts(of: self.plan(text))?.1
    }

    @Test("a plain GET of a local object is the whole prepared representation")
    func plainGet() throws {
        let plan = try self.plan("GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        let (representation, selection) = try #require(parts(of: plan))
        #expect(selection == .whole)
        #expect(representation.object.entry.name == "small.bin")
        guard case .local = representation.source else { throw TestClientError(description: "not local") }
        #expect(plan.status == .ok)
    }

    @Test("RFC 9110 §13.2.2: If-None-Match with the object's tag selects 304, a failed If-Match 412")
    func preconditions() throws {
        let object = try #require(parts(of: try self.plan("GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n"))).0.object
        let tag = String(decoding: object.etag, as: UTF8.self)
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"\(tag)\"\r\n\r\n") == .notModified)
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nIf-Match: \"other\"\r\n\r\n") == .preconditionFailed)
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\"\r\n\r\n") == .whole)
    }

    @Test("RFC 9110 §14.2: one range, several ranges, none that overlap, two Range lines, a stale If-Range")
    func ranges() throws {
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\n\r\n") == .range(0..<10))
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9, 20-29\r\n\r\n") == .multipart([0..<10, 20..<30]))
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5000-\r\n\r\n") == .unsatisfiable)
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nRange: bytes=1-2\r\n\r\n") == .whole)
        #expect(try self.selection("GET /small.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nIf-Range: \"other\"\r\n\r\n") == .whole)
    }

    @Test("methods: 405 with Allow for known ones, 501 for unknown ones; a target that is not a path 400 and close")
    func methodsAndTargets() throws {
        guard case .error(let status, let closing, let allow) = try self.plan("DELETE /small.bin HTTP/1.1\r\nHost: t\r\n\r\n") else {
            Issue.record("not an error")
            return
        }
        #expect(status == .methodNotAllowed && !closing && allow.map { "\($0)" } == "GET, HEAD")
        guard case .error(.notImplemented, _, _) = try self.plan("BREW /small.bin HTTP/1.1\r\nHost: t\r\n\r\n") else {
            Issue.record("not 501")
            return
        }
        guard case .error(.badRequest, true, _) = try self.plan("GET * HTTP/1.1\r\nHost: t\r\n\r\n") else {
            Issue.record("not 400 and close")
            return
        }
        guard case .error(.notFound, false, _) = try self.plan("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n") else {
            Issue.record("not 404")
            return
        }
    }

    @Test("links: a redirect is planned as 307, a raw link as a relay with the object's fields on the remote's head")
    func links() throws {
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try volume.addLink("moved", url: "http://127.0.0.1:1/x", type: .redirect)
        try volume.addLink("live", url: "http://127.0.0.1:1/stream", type: .raw)
        let mount = try MountedVolume(
            path: volume.path, configuration: ServerConfiguration(), registry: StatsRegistry(),
            stats: ServerStats(startTime: 0, factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())), logger: Logger(label: "t")
        ).current
        guard case .redirect(let redirect) = try self.plan("GET /moved HTTP/1.1\r\nHost: t\r\n\r\n", mount: mount) else {
            Issue.record("not a redirect")
            return
        }
        #expect(String(decoding: redirect.response.readableBytesView, as: UTF8.self).contains("Location: http://127.0.0.1:1/x\r\n"))
        guard case .relay(.link(let link, let object)) = try self.plan("GET /live HTTP/1.1\r\nHost: t\r\n\r\n", mount: mount) else {
            Issue.record("not a link relay")
            return
        }
        #expect(link.path == "stream")
        let head = VolumeResponder().linkHead(
            object, upstream: HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Type": "video/mp2t", "Content-Length": "5"]))
        #expect(head.status == .ok && head.contentLength == 5 && head.label == nil)
        #expect(head.fields.first(name: "etag") == "\"\(object.entry.hexDigest)\"")
        #expect(head.fields.first(name: "content-type") == "video/mp2t")
        #expect(head.fields.first(name: "server") == "minicache")
    }
}

/// A plan handed from the loop that made it to the test, which alone uses it from then on.
private struct Handed<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The cache's answers and its decisions on the origin's answers, as plans.
@Suite struct CacheResponderTests {
    static let origin = OriginAddress(host: "127.0.0.1", port: 1)
    static let now = Int64(time(nil))

    /// A volume with a cache over it and no server.
    final class Fixture: Sendable {
        let volume: TestVolume
        let holder: MountedVolume
        let cache: PullThroughCache
        let stats: ServerStats
        let responder: CacheResponder
        /// The loop requests are decided on, as a server's connections decide them: the cache's
        /// grace period waits for it, so a decision on an older mount still sees an invalidation.
        let loop: MultiThreadedEventLoopGroup

        init() throws {
            self.loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.volume = try TestVolume(sizeMiB: 4)
            var logger = Logger(label: "cache-responder-test")
            logger.logLevel = .error
            self.stats = ServerStats(startTime: 0, factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
            self.holder = try MountedVolume(
                path: self.volume.path, configuration: ServerConfiguration(), registry: StatsRegistry(), stats: self.stats, logger: logger)
            self.cache = PullThroughCache(
                router: OriginRouter(origin: CacheResponderTests.origin), maxObjectSize: 1 << 20, volumes: self.holder, stats: self.stats,
                grace: SnapshotGrace(group: self.loop), logger: logger)
            let upstream = UpstreamRelay(group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(1), stats: self.stats, logger: logger)
            self.responder = CacheResponder(cache: self.cache, upstream: upstream, stats: self.stats, serverName: "minicache")
        }

        /// Stores a response for `target` received at `at`.
        func store(_ target: String, _ headers: [(String, String)], body: String, at: Int64 = CacheResponderTests.now) async -> Bool {
            var response = StoredResponse(
                requestHeaders: [:], response: HTTPResponseHead(version: .http1_1, status: .ok, headers: HTTPHeaders(headers)),
                requestTime: at, responseTime: at)
            response.bodyLength = UInt64(body.utf8.count)
            let digest = self.cache.key(target: target, origin: CacheResponderTests.origin).primaryDigest
            return await withCheckedContinuation { continuation in
                self.cache.store.store(digest: digest, response: response, url: target, body: Array(body.utf8)) { continuation.resume(returning: $0) }
            }
        }

        /// Decides `text` within one task on the fixture's loop.
        func plan(_ text: String, now: Int64 = CacheResponderTests.now) async throws -> ResponsePlan {
            let loop = self.loop.next()
            let plan = try await loop.submit {
                let mount = self.holder.current
                return Handed(
                    try withRequest(text) { head, bytes in
                        head.method == .get || head.method == .head
                            ? self.responder.respond(to: head, in: bytes, mount: mount, now: now, on: loop)
                            : self.responder.forward(head, in: bytes, now: now)
                    })
            }.get()
            return plan.value
        }

        func exchange(_ text: String, now: Int64 = CacheResponderTests.now) async throws -> CacheExchange? {
            guard case .relay(.cache(let exchange)) = try await self.plan(text, now: now) else { return nil }
            return exchange
        }

        /// Runs `body` with a fresh fixture and always takes it down.
        static func with(_ body: (Fixture) async throws -> Void) async throws {
            let fixture = try Fixture()
            do {
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }

        func close() async {
            await self.cache.store.shutdown()
            try? await self.loop.shutdownGracefully()
            self.volume.remove()
        }
    }

    static func selection(of plan: ResponsePlan) -> Representation.Selection? {
        Self.stored(plan)?.3
    }

    static func stored(_ plan: ResponsePlan) -> (HitHead, Int64, CacheLabel, Representation.Selection)? {
        guard let (representation, selection) = parts(of: plan), case .stored(let hit, let age, let label) = representation.source else { return nil }
        return (hit, age, label, selection)
    }

    @Test("RFC 9111 §4: nothing stored is a miss sent through the shared fill of the key, without the client's conditionals")
    func miss() async throws {
        try await Fixture.with { fixture in
            let exchange = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"x\"\r\nRange: bytes=0-1\r\n\r\n"))
            #expect(exchange.kind == .miss)
            #expect(exchange.fillKey == "cache \(exchange.lookup.digest)")
            #expect(exchange.forwarded.head.headers.first(name: "host") == "127.0.0.1:1")
            #expect(!exchange.forwarded.head.headers.contains(name: "if-none-match"))
            #expect(!exchange.forwarded.head.headers.contains(name: "range"))
            #expect(exchange.forwarded.head.headers.first(name: "via") == "1.1 minicache")
        }
    }

    @Test("RFC 9111 §4.2: a fresh stored response is served with its age and X-Cache: HIT, also by the fast path")
    func freshHit() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=600"), ("ETag", "\"v1\"")], body: "hello"))
            for _ in 0..<2 {
                let (hit, age, label, selection) = try #require(Self.stored(try await fixture.plan("GET /a HTTP/1.1\r\nHost: t\r\n\r\n", now: Self.now + 5)))
                #expect(hit.status == .ok)
                #expect(age == 5)
                #expect(label == .hit)
                #expect(selection == .whole)
            }
        }
    }

    @Test("RFC 9111 §4.3.2: the client's If-None-Match and Range are answered from the stored response")
    func conditionalsAndRangesOnHits() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=600"), ("ETag", "\"v1\"")], body: "0123456789"))
            let notModified = try await fixture.plan("GET /a HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n")
            #expect(Self.selection(of: notModified) == .notModified)
            let failed = try await fixture.plan("GET /a HTTP/1.1\r\nHost: t\r\nIf-Match: \"v2\"\r\n\r\n")
            #expect(Self.selection(of: failed) == .preconditionFailed)
            let ranged = try await fixture.plan("GET /a HTTP/1.1\r\nHost: t\r\nRange: bytes=2-4\r\n\r\n")
            #expect(Self.selection(of: ranged) == .range(2..<5))
            let headRanged = try await fixture.plan("HEAD /a HTTP/1.1\r\nHost: t\r\nRange: bytes=2-4\r\n\r\n")
            #expect(Self.selection(of: headRanged) == .whole)
        }
    }

    @Test("RFC 9111 §4.3.1: a stale response with a validator is revalidated with a conditional request")
    func staleIsRevalidated() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=60"), ("ETag", "\"v1\"")], body: "hello"))
            let exchange = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\n\r\n", now: Self.now + 120))
            #expect(exchange.kind == .revalidation)
            #expect(exchange.fillKey == "revalidate \(exchange.lookup.digest)")
            #expect(exchange.forwarded.head.headers.first(name: "if-none-match") == "\"v1\"")
        }
    }

    @Test("RFC 9111 §4.3.4: a 304 serves the stored body with the updated fields, labelled REVALIDATED")
    func notModifiedServesStored() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=60"), ("ETag", "\"v1\""), ("X-Version", "1")], body: "hello"))
            let exchange = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\n\r\n", now: Self.now + 120))
            let answer = fixture.responder.originAnswered(
                HTTPResponseHead(version: .http1_1, status: .notModified, headers: ["ETag": "\"v1\"", "X-Version": "2", "Cache-Control": "max-age=60"]),
                to: exchange, mount: fixture.holder.current, now: Self.now + 120)
            guard case .replace(let plan) = answer, let (hit, _, label, selection) = Self.stored(plan) else {
                Issue.record("not the stored response: \(answer)")
                return
            }
            #expect(label == .revalidated)
            #expect(selection == .whole)
            #expect(String(decoding: hit.fields.readableBytesView, as: UTF8.self).contains("X-Version: 2\r\n"))
        }
    }

    @Test("RFC 9111 §4.3.4: a 304 for another representation fetches it whole")
    func notModifiedForAnotherRepresentation() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=60"), ("ETag", "\"v1\"")], body: "hello"))
            let exchange = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\n\r\n", now: Self.now + 120))
            let answer = fixture.responder.originAnswered(
                HTTPResponseHead(version: .http1_1, status: .notModified, headers: ["ETag": "\"v2\""]), to: exchange, mount: fixture.holder.current,
                now: Self.now + 120)
            guard case .replace(.relay(.cache(let refetch))) = answer else {
                Issue.record("not a refetch: \(answer)")
                return
            }
            #expect(refetch.kind == .miss)
            #expect(!refetch.forwarded.head.headers.contains(name: "if-none-match"))
        }
    }

    @Test("RFC 5861 §4: an origin error serves stale-if-error; a disconnected cache serves stale within a day")
    func staleOnError() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=60, stale-if-error=600"), ("ETag", "\"v1\"")], body: "hello"))
            let exchange = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\n\r\n", now: Self.now + 120))
            let answer = fixture.responder.originAnswered(
                HTTPResponseHead(version: .http1_1, status: .serviceUnavailable), to: exchange, mount: fixture.holder.current, now: Self.now + 120)
            guard case .replace(let plan) = answer, Self.stored(plan)?.2 == .stale else {
                Issue.record("not stale: \(answer)")
                return
            }
            #expect(Self.stored(try #require(fixture.responder.originFailed(exchange, now: Self.now + 3600)))?.2 == .stale)
            #expect(fixture.responder.originFailed(exchange, now: Self.now + 2 * 86_400) == nil)
            #expect(fixture.stats.cacheStale.load(ordering: .relaxed) == 2)
        }
    }

    @Test("RFC 9111 §4: a miss's 200 is relayed with its end-to-end fields; the client's matching If-None-Match makes it 304")
    func relayedHeads() async throws {
        try await Fixture.with { fixture in
            let origin = HTTPResponseHead(
                version: .http1_1, status: .ok,
                headers: ["ETag": "\"v1\"", "Content-Length": "5", "Connection": "x-hop", "X-Hop": "1", "Cache-Control": "max-age=60"])
            let plain = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\n\r\n"))
            guard case .relay(let head) = fixture.responder.originAnswered(origin, to: plain, mount: fixture.holder.current, now: Self.now) else {
                Issue.record("not relayed")
                return
            }
            #expect(head.status == .ok && head.contentLength == 5 && head.label == .miss)
            #expect(!head.fields.contains(name: "x-hop") && !head.fields.contains(name: "connection") && !head.fields.contains(name: "content-length"))
            let conditional = try #require(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n"))
            guard case .relay(let notModified) = fixture.responder.originAnswered(origin, to: conditional, mount: fixture.holder.current, now: Self.now) else {
                Issue.record("not relayed")
                return
            }
            #expect(notModified.status == .notModified)
            #expect(notModified.fields.first(name: "etag") == "\"v1\"")
        }
    }

    @Test("RFC 9111 §4.4: another method is forwarded on its own with its body; its success invalidates the stored response")
    func passThroughInvalidates() async throws {
        try await Fixture.with { fixture in
            #expect(await fixture.store("/a", [("Cache-Control", "max-age=600")], body: "hello"))
            let exchange = try #require(try await fixture.exchange("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"))
            #expect(exchange.kind == .passThrough)
            #expect(exchange.fillKey == nil)
            #expect(exchange.forwarded.body.map { Array($0.readableBytesView) } == Array("abc".utf8))
            guard case .relay(let head) = fixture.responder.originAnswered(
                HTTPResponseHead(version: .http1_1, status: .created), to: exchange, mount: fixture.holder.current, now: Self.now)
            else {
                Issue.record("not relayed")
                return
            }
            #expect(head.label == .pass)
            #expect(try await fixture.exchange("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")?.kind == .miss)
        }
    }

    @Test("RFC 9111 §5.2.1.7: only-if-cached with nothing stored is 504")
    func onlyIfCached() async throws {
        try await Fixture.with { fixture in
            guard case .error(.gatewayTimeout, _, _) = try await fixture.plan("GET /a HTTP/1.1\r\nHost: t\r\nCache-Control: only-if-cached\r\n\r\n") else {
                Issue.record("not 504")
                return
            }
        }
    }
}
