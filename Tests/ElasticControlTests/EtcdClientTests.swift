import EtcdClient
import Foundation
import Testing

/// The etcd client against a real etcd: reads, transactions on revisions, leases, and watches
/// that survive a restart of etcd and a compaction.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct EtcdClientTests {
    @Test(arguments: EtcdTestServer.executables) func putGetDeleteAndPrefixSnapshots(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let first = try await client.put("/t/a", value: Array("1".utf8))
        try await client.put("/t/b", value: Array("2".utf8))
        try await client.put("/u", value: Array("3".utf8))
        #expect(try await client.get("/t/a")?.text == "1")
        #expect(try await client.get("/t/a")?.modRevision == first)
        let snapshot = try await client.snapshot(prefix: "/t/")
        #expect(snapshot.keyValues.map(\.key) == ["/t/a", "/t/b"])
        #expect(snapshot.revision == first + 2)
        #expect(try await client.delete("/t/", prefix: true) == 2)
        #expect(try await client.get("/t/a") == nil)
        #expect(try await client.get("/u")?.text == "3")
        await client.close()
    }

    @Test(arguments: EtcdTestServer.executables) func transactionsCompareRevisionsSoOnlyOneOfTwoWritersWins(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let seen = try await client.snapshot(prefix: "/site/").revision
        // Two writers decide on the same view: the first commits, the second finds the prefix changed.
        let a = try await client.transaction(if: [.prefixUnchanged("/site/", since: seen), .absent("/site/x")], then: [.put(key: "/site/x", value: Array("a".utf8))])
        let b = try await client.transaction(
            if: [.prefixUnchanged("/site/", since: seen), .absent("/site/y")], then: [.put(key: "/site/y", value: Array("b".utf8))], else: [.getPrefix("/site/")]
        )
        #expect(a.succeeded)
        #expect(!b.succeeded)
        #expect(b.reads.first?.map(\.key) == ["/site/x"])
        // Create-only: a second create of the same key fails.
        let again = try await client.transaction(if: [.absent("/site/x")], then: [.put(key: "/site/x", value: Array("c".utf8))])
        #expect(!again.succeeded)
        #expect(try await client.get("/site/x")?.text == "a")
        await client.close()
    }

    @Test(arguments: EtcdTestServer.executables) func keysOfALeaseVanishWhenItIsNotKeptAlive(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let kept = try await client.grantLease(ttl: 2)
        let dropped = try await client.grantLease(ttl: 2)
        try await client.put("/kept", value: [1], lease: kept.id)
        try await client.put("/dropped", value: [1], lease: dropped.id)
        let keeper = Task { try await client.keepAlive(kept) }
        let gone = await TestStack.eventually { (try? await client.get("/dropped")) == nil }
        #expect(gone)
        #expect(try await client.get("/kept") != nil)
        keeper.cancel()
        try await client.revokeLease(kept.id)
        #expect(try await client.get("/kept") == nil)
        await #expect(throws: EtcdError.self) { try await client.keepAlive(kept) }
        await client.close()
    }

    @Test(arguments: EtcdTestServer.executables) func observationResumesAfterAnEtcdRestartWithoutLosingAChange(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let writer = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        try await writer.put("/o/0", value: [0])
        let updates = client.observe(prefix: "/o/")
        var iterator = updates.makeAsyncIterator()
        guard case .snapshot(let snapshot) = await iterator.next() else { Issue.record("no snapshot first"); return }
        #expect(snapshot.keyValues.map(\.key) == ["/o/0"])
        try await writer.put("/o/1", value: [1])
        guard case .events(let events, _) = await iterator.next() else { Issue.record("no event"); return }
        #expect(events.map(\.keyValue.key) == ["/o/1"])
        etcd.kill()
        guard case .disconnected = await iterator.next() else { Issue.record("no disconnection"); return }
        try await etcd.restart()
        try await writer.put("/o/2", value: [2])
        try await writer.delete("/o/0")
        var seen: [String] = []
        while seen.count < 2, let update = await iterator.next() {
            if case .events(let events, _) = update { seen += events.map { "\($0.kind == .put ? "put" : "delete") \($0.keyValue.key)" } }
            if case .snapshot = update { Issue.record("a resumed watch must not list again") }
        }
        #expect(seen == ["put /o/2", "delete /o/0"])
        await client.close()
        await writer.close()
    }

    /// etcd answers small requests with a PING each; before the client answered them itself,
    /// swift-nio-http2's limit of 200 control frames in 30 s closed the connection (and every
    /// watch on it) once per 200 requests.
    /// Watches `/w/`, makes 600 requests on the same client, then expects the watch to deliver
    /// the next change with no disconnection in between.
    static func expectWatchOutlivesManyRequests(_ client: EtcdClient) async throws {
        var iterator = client.observe(prefix: "/w/").makeAsyncIterator()
        guard case .snapshot = await iterator.next() else {
            Issue.record("no snapshot first")
            return
        }
        for i in 0..<600 { try await client.put("/r/\(i % 10)", value: [UInt8(i & 0xFF)]) }
        try await client.put("/w/1", value: [1])
        let next = await iterator.next()
        guard case .events(let events, _) = next else {
            Issue.record("the watch was cut: \(String(describing: next))")
            return
        }
        #expect(events.map(\.keyValue.key) == ["/w/1"])
    }

    @Test(arguments: EtcdTestServer.executables) func aWatchOutlivesManyRequestsOnTheSameConnection(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        try await Self.expectWatchOutlivesManyRequests(client)
        await client.close()
    }

    @Test(arguments: EtcdTestServer.executables) func observationListsAgainWhenItsRevisionWasCompacted(etcd executable: String) async throws {
        let etcd = try await EtcdTestServer.start(executable: executable)
        defer { etcd.destroy() }
        let writer = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let start = try await writer.put("/c/a", value: [1])
        try await writer.put("/c/b", value: [2])
        let latest = try await writer.put("/c/a", value: [3])
        try await writer.compact(revision: latest)
        // Watching from a compacted revision: the observation falls back to a fresh snapshot.
        var iterator = client.observe(prefix: "/c/", from: start).makeAsyncIterator()
        guard case .snapshot(let snapshot) = await iterator.next() else { Issue.record("expected a new snapshot"); return }
        #expect(snapshot.keyValues.map(\.key) == ["/c/a", "/c/b"])
        #expect(snapshot.keyValues.first?.value == [3])
        await client.close()
        await writer.close()
    }

    @Test(arguments: EtcdTestServer.executables) func aClientMovesToAnotherMemberWhenItsMemberDies(etcd executable: String) async throws {
        let members = try await EtcdTestServer.startCluster(3, executable: executable)
        defer { for m in members { m.destroy() } }
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: members.map(\.endpoint)))
        try await client.put("/m/a", value: [1])
        let updates = client.observe(prefix: "/m/")
        var iterator = updates.makeAsyncIterator()
        guard case .snapshot = await iterator.next() else { Issue.record("no snapshot"); return }
        // The client talks to the first member; kill it: reads, writes and the watch go on through the others.
        members[0].kill()
        let written = await TestStack.eventually { (try? await client.put("/m/b", value: [2])) != nil }
        #expect(written)
        #expect(try await client.get("/m/b")?.value == [2])
        var seen = false
        while let update = await iterator.next() {
            if case .events(let events, _) = update, events.contains(where: { $0.keyValue.key == "/m/b" }) {
                seen = true
                break
            }
        }
        #expect(seen)
        await client.close()
    }

    @Test(arguments: EtcdTestServer.executables) func requestsCutByAKilledMemberAreSentAgainToAnother(etcd executable: String) async throws {
        let members = try await EtcdTestServer.startCluster(3, executable: executable)
        defer { for m in members { m.destroy() } }
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: members.map(\.endpoint), requestTimeout: .seconds(10)))
        try await client.put("/r/warm", value: [0])
        // Writers keep requests in flight on every member (round robin) while one member is killed:
        // the requests its connection carried are sent again to the others, so none fails.
        let end = ContinuousClock.now + .seconds(1.5)
        let writers = (0..<20).map { w in
            Task { () -> (written: Int, failures: [String]) in
                var result: (written: Int, failures: [String]) = (0, [])
                while ContinuousClock.now < end {
                    do {
                        try await client.put("/r/\(w)/\(result.written)", value: [1])
                        result.written += 1
                    } catch {
                        result.failures.append("\(error)")
                    }
                }
                return result
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        members[1].kill()
        var written = 0
        var failures: [String] = []
        for writer in writers {
            let result = await writer.value
            written += result.written
            failures += result.failures
        }
        #expect(failures.isEmpty, "\(failures.count) writes failed, e.g. \(failures.first ?? "")")
        #expect(try await client.snapshot(prefix: "/r/").keyValues.count == written + 1)
        await client.close()
    }

    /// The tests above run against every etcd in ``EtcdTestServer/executables``; this one says
    /// whether 3.5 was among them.
    @Test(.enabled(if: EtcdTestServer.etcd35 != nil, EtcdTestServer.etcd35Missing))
    func theProtocolTestsAlsoRunOnEtcd35() async throws {
        let etcd = try await EtcdTestServer.start(executable: EtcdTestServer.etcd35)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        #expect(try await client.status().version.hasPrefix("3.5."))
        #expect(EtcdTestServer.executables.count == 2)
        await client.close()
    }

    @Test func endpointsAreParsedWithClearErrors() throws {
        let configuration = try EtcdConfiguration(url: "etcd://127.0.0.1:2379,10.0.0.2:2380")
        #expect(configuration.endpoints == [.init(host: "127.0.0.1", port: 2379), .init(host: "10.0.0.2", port: 2380)])
        #expect(configuration.url == "etcd://127.0.0.1:2379,10.0.0.2:2380")
        #expect(throws: EtcdError.self) { try EtcdConfiguration(url: "etcd://host") }
        #expect(throws: EtcdError.self) { try EtcdConfiguration(url: "etcd://") }
        #expect(throws: EtcdError.self) { try EtcdConfiguration(url: "etcd://example.org:2379") }
        for host in ["+127.0.0.1", "127.0.0.01", "127.0.0", "127.0.0.256", "127..0.1"] {
            #expect(throws: EtcdError.self, "\(host)") { try EtcdConfiguration(url: "etcd://\(host):2379") }
        }
    }
}
