@testable import ElasticControl
import EtcdClient
import Foundation
import NIOPosix
import Synchronization
import Testing

/// A site agent gives a starting instance the longer of its own ready timeout and its backend's
/// (a microVM booting under TCG needs far more than a process), as the single-host controller
/// does. Real etcd; the backend is a stand-in whose instance turns ready when the test says so.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason))
struct AgentReadyTimeoutTests {
    /// A backend whose instances boot until ``turnReady()`` and that asks for a long ready timeout.
    final class SlowBootBackend: SiteBackend {
        private struct State {
            var launched: [String] = []
            var launchedAt: ContinuousClock.Instant?
            var lastBootingProbe: ContinuousClock.Instant?
            var terminated: [String] = []
            var ready = false
        }
        private let state = Mutex(State())
        let kind = "slow-boot"

        var launched: [String] { state.withLock { $0.launched } }
        var terminated: [String] { state.withLock { $0.terminated } }
        func turnReady() { state.withLock { $0.ready = true } }
        /// How long after the launch the agent last found the instance booting.
        var probedBootingFor: Duration {
            state.withLock { s in
                guard let launched = s.launchedAt, let probe = s.lastBootingProbe else { return .zero }
                return probe - launched
            }
        }

        func launch(_ spec: InstanceSpec) async throws(ControlError) {
            state.withLock {
                $0.launched.append(spec.id)
                $0.launchedAt = .now
            }
        }
        func probe(_ id: String) -> InstanceProbe {
            state.withLock {
                if $0.terminated.contains(id) { return .exited("terminated") }
                if $0.ready { return .ready }
                $0.lastBootingProbe = .now
                return .booting
            }
        }
        func terminate(_ id: String, grace: Double) async -> String {
            state.withLock { $0.terminated.append(id) }
            return "terminated"
        }
        func kill(_ id: String) { state.withLock { $0.terminated.append(id) } }
        func terminateAll(grace: Double) async {
            state.withLock { $0.terminated += $0.launched }
        }
        func readyTimeout(forSite site: String) -> Double? { 120 }
    }

    @Test func aBackendThatNeedsLongerThanTheAgentsReadyTimeoutGetsIt() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(url: etcd.url))
        let keys = ClusterKeys()
        let site = SiteConfiguration.loopbackSites(1, firstOctet: 144)[0]
        try await ClusterSeed.write(client: client, sites: [site], tenants: [TenantConfiguration(name: "default", origin: "http://127.0.0.1:9")])
        let placement = PlacementRecord(
            id: "site1-default-slow", site: "site1", tenant: "default", slot: 0, address: site.instanceAddress(slot: 0) ?? "",
            port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9", placedBy: "test", placedAt: Date().timeIntervalSince1970
        )
        try await client.put(keys.placement(site: "site1", id: placement.id), value: ClusterRecords.encode(placement))
        try await client.put(keys.slot(site: "site1", 0), value: Array(placement.id.utf8))
        func state() async -> InstanceLifecycle? {
            let records = try? await client.snapshot(prefix: keys.status(site: "site1", id: "")).keyValues
                .compactMap { ClusterRecords.decode(StatusRecord.self, from: $0.value) }
            return records?.first { $0.instance.id == placement.id }?.instance.state
        }

        let backend = SlowBootBackend()
        let readyTimeout = 0.2
        let agent = SiteAgent(
            configuration: SiteAgentConfiguration(site: "site1", readyTimeout: readyTimeout, stopGrace: 0), backend: backend, client: client,
            group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        let run = Task { try? await agent.run() }
        #expect(await TestStack.eventually { backend.launched == [placement.id] })
        // The agent still finds it booting at five times its own ready timeout (or gave up on it).
        #expect(await TestStack.eventually { !backend.terminated.isEmpty || backend.probedBootingFor > .seconds(readyTimeout * 5) })
        #expect(backend.terminated.isEmpty, "the agent gave up on a booting instance after its own ready timeout")
        backend.turnReady()
        #expect(await TestStack.eventually { await state() == .ready })
        run.cancel()
        await agent.shutdown(stopInstances: true)
        await run.value
    }
}
