import ElasticControl
import Testing

struct StateStoreTests {
    @Test func leaseHasOneHolderUntilItExpires() async throws {
        let store: any StateStore = InMemoryStateStore()
        #expect(try await store.acquireLease("controller", holder: "a", ttl: 3, now: 100))
        #expect(try await !store.acquireLease("controller", holder: "b", ttl: 3, now: 102))
        #expect(try await store.acquireLease("controller", holder: "a", ttl: 3, now: 102))
        #expect(try await store.acquireLease("controller", holder: "b", ttl: 3, now: 105.5))
    }

    @Test func watchersSeeInstancesDesiredCountsAndRemovals() async throws {
        let store: any StateStore = InMemoryStateStore(stoppedRetention: 1)
        let events = await store.watch()
        let record = InstanceRecord(id: "s-t-1", site: "s", tenant: "t", state: .ready, url: "http://127.0.0.1:1", adminURL: "http://127.0.0.1:2", backend: "process", startedAt: 1)
        try await store.put(record)
        try await store.setDesired(DesiredKey(site: "s", tenant: "t"), count: 1)
        try await store.setDesired(DesiredKey(site: "s", tenant: "t"), count: 1)
        var stopped = record
        stopped.state = .stopped
        try await store.put(stopped)
        var second = stopped
        second.id = "s-t-2"
        try await store.put(second)
        var seen: [StoreEvent] = []
        for await event in events {
            seen.append(event)
            if seen.count == 5 { break }
        }
        #expect(seen == [
            .instance(record), .desired(DesiredKey(site: "s", tenant: "t"), 1), .instance(stopped), .instance(second), .removed(id: "s-t-1"),
        ])
        #expect(try await store.instances().map(\.id) == ["s-t-2"])
        #expect(try await store.desired() == [DesiredKey(site: "s", tenant: "t"): 1])
    }
}
