import ElasticControl
import EtcdClient
import Foundation
import Testing

/// The etcd ``StateStore`` against a real etcd: the same contract as the in-memory store.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct EtcdStateStoreTests {
    @Test func recordsDesiredCountsAndWatchesGoThroughEtcd() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let store: any StateStore = EtcdStateStore(client: client)
        let events = await store.watch()
        let record = InstanceRecord(id: "s-t-1", site: "s", tenant: "t", state: .ready, url: "http://127.0.0.1:1", adminURL: "http://127.0.0.1:2", backend: "process", startedAt: 1)
        try await store.put(record)
        try await store.setDesired(DesiredKey(site: "s", tenant: "t"), count: 1)
        try await store.setDesired(DesiredKey(site: "s", tenant: "t"), count: 1)
        var stopped = record
        stopped.state = .stopped
        try await store.put(stopped)
        try await store.remove(id: "s-t-1")
        var seen: [StoreEvent] = []
        for await event in events {
            seen.append(event)
            if seen.count == 4 { break }
        }
        #expect(seen == [.instance(record), .desired(DesiredKey(site: "s", tenant: "t"), 1), .instance(stopped), .removed(id: "s-t-1")])
        #expect(try await store.instances().isEmpty)
        #expect(try await store.desired() == [DesiredKey(site: "s", tenant: "t"): 1])
        // A second store on the same etcd sees the same state.
        let other = EtcdStateStore(client: try EtcdClient(configuration: EtcdConfiguration(url: etcd.url)))
        try await store.put(record)
        #expect(try await other.instances() == [record])
        await client.close()
        await other.client.close()
    }

    @Test func leaseHasOneHolderUntilItLapses() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let a = EtcdStateStore(client: try EtcdClient(configuration: EtcdConfiguration(url: etcd.url)))
        let b = EtcdStateStore(client: try EtcdClient(configuration: EtcdConfiguration(url: etcd.url)))
        #expect(try await a.acquireLease("controller", holder: "a", ttl: 2, now: 0))
        #expect(try await !b.acquireLease("controller", holder: "b", ttl: 2, now: 0))
        #expect(try await a.acquireLease("controller", holder: "a", ttl: 2, now: 0))
        #expect(try await !b.acquireLease("controller", holder: "b", ttl: 2, now: 0))
        // a stops renewing: once etcd expires its lease, b takes over.
        let taken = await TestStack.eventually { (try? await b.acquireLease("controller", holder: "b", ttl: 2, now: 0)) == true }
        #expect(taken)
        #expect(try await !a.acquireLease("controller", holder: "a", ttl: 2, now: 0))
        await a.client.close()
        await b.client.close()
    }

    @Test func anUnreachableEtcdIsAStoreErrorThatSaysSo() async throws {
        let client = try EtcdClient(configuration: EtcdConfiguration(
            endpoints: [.init(host: "127.0.0.1", port: EtcdTestServer.freePort())], requestTimeout: .milliseconds(500)
        ))
        let store = EtcdStateStore(client: client)
        await #expect {
            try await store.instances()
        } throws: { error in
            (error as? ControlError)?.code == .storeFailed && "\(error)".contains("etcd")
        }
        await client.close()
    }
}
