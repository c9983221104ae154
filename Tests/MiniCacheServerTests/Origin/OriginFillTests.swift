import HTTPToolkit
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

struct OriginFillTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Joins the fill for `key` the way a request handler does; returns whether it created it.
    @discardableResult
    func join(
        _ fills: OriginFillRegistry<String>, key: String, delegate: RecordingDelegate, client: OriginClient,
        address: OriginAddress, holdAfterFinish: Bool = false
    ) -> Bool {
        let eventLoop = group.next()
        while true {
            let (fill, isNew) = fills.fill(for: key)
            guard fill.subscribe(delegate, on: eventLoop) == .joined else { continue }
            if isNew {
                fill.start(OriginRequest(target: "/" + key), to: address, using: client, holdAfterFinish: holdAfterFinish)
            }
            return isNew
        }
    }

    @Test("50 concurrent misses for one key make one origin request and all get the whole body")
    func fiftyJoiners() async throws {
        let gate = Gate()
        let body = String(repeating: "0123456789", count: 10_000)
        let origin = try await TestOrigin(group: group) { _, _ in
            let head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nCache-Control: max-age=60\r\n\r\n"
            return [.send(head + String(body.prefix(30_000))), .waitFor(gate), .send(String(body.dropFirst(30_000)))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let delegates = (0..<50).map { _ in RecordingDelegate() }

        let creators = await withTaskGroup(of: Bool.self) { tasks in
            for delegate in delegates {
                tasks.addTask { join(fills, key: "segment-1.ts", delegate: delegate, client: client, address: address) }
            }
            var created = 0
            for await isNew in tasks where isNew { created += 1 }
            return created
        }
        #expect(creators == 1)
        // Some subscribers joined before the first bytes, some after: both are served.
        let started = try await delegates[0].wait { $0.body.count == 30_000 }
        #expect(started)
        let late = RecordingDelegate()
        join(fills, key: "segment-1.ts", delegate: late, client: client, address: address)
        gate.open()

        for delegate in delegates + [late] {
            let record = await delegate.end()
            #expect(record.finished)
            #expect(record.error == nil)
            #expect(record.body.count == body.utf8.count)
            #expect(!record.outOfOrder)
        }
        #expect(late.bodyString == body)
        #expect(origin.requestCount == 1)
        #expect(fills.statistics.created == 1)
        #expect(fills.statistics.joined == 50)
        #expect(fills.count == 0)
        client.shutdown()
        await origin.stop()
    }

    @Test("a truncated origin body fails every subscriber and is never reported complete")
    func truncationFailsAll() async throws {
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { _, _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: 100)), .waitFor(gate), .close]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let delegates = (0..<10).map { _ in RecordingDelegate() }
        for delegate in delegates { join(fills, key: "k", delegate: delegate, client: client, address: address) }
        _ = try await delegates[0].wait { $0.body.count == 100 }
        gate.open()
        for delegate in delegates {
            let record = await delegate.end()
            #expect(!record.finished)
            #expect(record.error?.code == .truncatedBody)
            #expect(record.ends == 1)
        }
        #expect(fills.count == 0)
        // The next miss starts a new fetch rather than joining the failed one.
        let retry = RecordingDelegate()
        #expect(join(fills, key: "k", delegate: retry, client: client, address: address))
        client.shutdown()
        await origin.stop()
    }

    @Test("a finished fill held for the store commit replays from memory, and takes no one after release")
    func holdAfterFinish() async throws {
        let origin = try await TestOrigin(group: group) { _, _ in [.send(TestOrigin.response(body: "payload"))] }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let first = RecordingDelegate()
        join(fills, key: "k", delegate: first, client: client, address: address, holdAfterFinish: true)
        #expect(await first.end().finished)

        let (fill, isNew) = fills.fill(for: "k")
        #expect(!isNew)
        let replay = RecordingDelegate()
        #expect(fill.subscribe(replay, on: group.next()) == .joined)
        let record = await replay.end()
        #expect(record.finished)
        #expect(replay.bodyString == "payload")
        #expect(origin.requestCount == 1)

        fill.release()
        #expect(fill.subscribe(RecordingDelegate(), on: group.next()) == .closed)
        #expect(fills.count == 0)
        client.shutdown()
        await origin.stop()
    }

    @Test("past the retention limit a fill keeps streaming but takes no new subscribers")
    func retentionLimit() async throws {
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { _, _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + String(repeating: "y", count: 100)), .waitFor(gate),
             .send(String(repeating: "z", count: 100))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>(retentionLimit: 50)
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let first = RecordingDelegate()
        join(fills, key: "big", delegate: first, client: client, address: address)
        _ = try await first.wait { $0.body.count == 100 }
        let (_, isNew) = fills.fill(for: "big")
        #expect(isNew)
        gate.open()
        let record = await first.end()
        #expect(record.finished)
        #expect(record.body.count == 200)
        client.shutdown()
        await origin.stop()
    }

    @Test("when every subscriber leaves, the origin fetch is cancelled")
    func unsubscribeCancels() async throws {
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { _, _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"), .waitFor(gate)]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let viewer = RecordingDelegate()
        join(fills, key: "live", delegate: viewer, client: client, address: address)
        _ = try await viewer.wait { $0.body.count == 3 }
        let (fill, _) = fills.fill(for: "live")
        fill.unsubscribe(viewer)
        var closed = false
        for _ in 0..<200 where !closed {
            closed = origin.closedConnectionCount == 1
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(closed)
        #expect(fills.count == 0)
        gate.open()
        client.shutdown()
        await origin.stop()
    }

    @Test("RFC 9111 §4.1: a coalesced response is shared only with requests selecting the same Vary variant")
    func varyAwareSharing() async throws {
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { _, _ in
            [.waitFor(gate), .send(TestOrigin.response(body: "gzipped", headers: ["Vary: Accept-Encoding", "Cache-Control: max-age=9"]))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let gzip: HTTPHeaders = ["Accept-Encoding": "gzip"]
        let brotli: HTTPHeaders = ["Accept-Encoding": "br"]

        let (fill, isNew) = fills.fill(for: "/page")
        #expect(isNew)
        let leader = RecordingDelegate()
        #expect(fill.subscribe(leader, on: group.next()) == .joined)
        fill.start(OriginRequest(target: "/page", headers: gzip), to: address, using: client, holdAfterFinish: true)
        let sameEarly = RecordingDelegate()
        let otherEarly = RecordingDelegate()
        #expect(fill.subscribe(sameEarly, on: group.next(), requestHeaders: gzip) == .joined)
        #expect(fill.subscribe(otherEarly, on: group.next(), requestHeaders: brotli) == .joined)
        gate.open()

        #expect(await leader.end().finished)
        #expect(await sameEarly.end().finished)
        #expect(sameEarly.bodyString == "gzipped")
        let rejected = await otherEarly.end()
        #expect(rejected.error?.code == .differentVariant)
        #expect(rejected.head == nil)

        #expect(fill.subscribe(RecordingDelegate(), on: group.next(), requestHeaders: brotli) == .differentVariant)
        #expect(fill.subscribe(RecordingDelegate(), on: group.next(), requestHeaders: [:]) == .differentVariant)
        let sameLate = RecordingDelegate()
        #expect(fill.subscribe(sameLate, on: group.next(), requestHeaders: ["accept-encoding": "gzip"]) == .joined)
        #expect(await sameLate.end().finished)
        #expect(origin.requestCount == 1)
        fill.release()
        client.shutdown()
        await origin.stop()
    }

    @Test("RFC 9111 §3: a private or personal coalesced response goes only to its requester; joiners fetch separately")
    func privateNotShared() async throws {
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { _, _ in
            [.waitFor(gate), .send(TestOrigin.response(body: "alice's page", headers: ["Cache-Control: private, max-age=60"]))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let (fill, _) = fills.fill(for: "/account")
        let alice = RecordingDelegate()
        let bob = RecordingDelegate()
        #expect(fill.subscribe(alice, on: group.next()) == .joined)
        fill.start(OriginRequest(target: "/account", headers: ["Cookie": "user=alice"]), to: address, using: client, holdAfterFinish: true)
        #expect(fill.subscribe(bob, on: group.next(), requestHeaders: ["Cookie": "user=bob"]) == .joined)
        gate.open()
        #expect(await alice.end().finished)
        #expect(alice.bodyString == "alice's page")
        let refused = await bob.end()
        #expect(refused.error?.code == .notShareable)
        #expect(refused.body.isEmpty)
        #expect(fill.subscribe(RecordingDelegate(), on: group.next(), requestHeaders: [:]) == .notShareable)
        fill.release()
        client.shutdown()
        await origin.stop()
    }
}
