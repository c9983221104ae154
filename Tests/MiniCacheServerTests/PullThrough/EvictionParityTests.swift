import CacheEviction
import MiniCacheTesting
import NIOPosix
import Testing

@testable import MiniCacheServer

/// The simulator's caches (`ByteBoundedCache`, used by `ecdn simulate`) and a real minicache in
/// front of an origin make the same hits and misses on one request trace, for every policy.
struct EvictionParityTests {
    static let size = 48_000

    /// A Zipf-like trace over `objects` URLs from a fixed seed.
    static func trace(requests: Int, objects: Int) -> [Int] {
        var random = SplitMix(seed: 2024)
        let weights = (1...objects).map { 1 / Double($0) }
        let total = weights.reduce(0, +)
        return (0..<requests).map { _ in
            var x = Double(random.next() >> 11) * 0x1.0p-53 * total
            for (i, w) in weights.enumerated() {
                x -= w
                if x < 0 { return i }
            }
            return objects - 1
        }
    }

    @Test("the simulator's cache and minicache's store hit the same requests of one trace", arguments: EvictionKind.allCases)
    func sameHitsAsTheSimulator(kind: EvictionKind) async throws {
        let body = String(repeating: "v", count: Self.size)
        let origin = try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { _, _ in
            [.send(TestOrigin.response(body: body, headers: ["Cache-Control: max-age=3600"]))]
        }
        let volume = try TestVolume(sizeMiB: 2)
        defer { volume.remove() }
        let trace = Self.trace(requests: 240, objects: 40)
        var served: [Bool] = []
        var held = 0
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let cache = try #require(server.server.context.cache)
            cache.store.useEviction(kind)
            for object in trace {
                let fetches = origin.requestCount
                #expect(try await TestConnection.get(port: server.port, "/o/\(object)").text == body)
                let hit = origin.requestCount == fetches
                served.append(hit)
                if !hit {
                    // The miss is stored before the next request, as in the simulator.
                    let stored = served.filter { !$0 }.count
                    try await PullThroughTests.waitForStored(server, stored)
                }
                held = max(held, cache.statistics.stored - cache.store.statistics.evicted)
                // Distinct store and use times, so that LRU sees the order of the trace.
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(cache.store.statistics.evicted > 0, "the trace must overflow the volume")
        }
        await origin.stop()

        // The same trace through the simulator's cache, holding as many objects as the volume.
        let algorithm = EvictionAlgorithm(rawValue: kind.rawValue)!
        var model = ByteBoundedCache<Int>(policy: algorithm.makePolicy(), capacity: UInt64(held * Self.size))
        let simulated = trace.enumerated().map { model.request($0.element, size: UInt64(Self.size), at: Int64($0.offset)) }
        #expect(simulated.filter { $0 }.count > 20, "the trace has hits")
        #expect(simulated == served)
    }
}
