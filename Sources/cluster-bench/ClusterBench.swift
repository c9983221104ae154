import ArgumentParser
import ElasticControl
import EtcdClient
import Foundation
import Logging
import NIOPosix

/// `cluster-bench`: measurements of the distributed control plane against a running etcd, for
/// scripts/measure-distributed.sh. Each run writes a synthetic cluster (sites, tenants, one
/// ready instance per site and tenant) under its own root in etcd and removes it afterwards.
@main
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-bench",
        abstract: "Measure router decisions, leader planning, etcd traffic and viewers under faults of the distributed control plane.",
        subcommands: [RouterLatency.self, Planner.self, Traffic.self, Seed.self, Viewers.self]
    )

    struct Options: ParsableArguments {
        @Option(help: ArgumentHelp("The etcd cluster.", valueName: "URL"))
        var store = "etcd://127.0.0.1:2379"

        @Option(help: "Sites in the synthetic cluster.")
        var sites = 1000

        @Option(help: "Tenants in the synthetic cluster.")
        var tenants = 10
    }

    static let logger: Logger = {
        var logger = Logger(label: "cluster-bench")
        logger.logLevel = .warning
        return logger
    }()

    /// A synced view of the synthetic cluster and the task that feeds it from the watch.
    struct Seeded {
        var view: ClusterView
        var follower: Task<Void, Never>

        /// Stops the watch, then closes the client: closed under a watch that still runs, the
        /// client would cut its stream, and the view would log an etcd outage that never was.
        func close(_ client: EtcdClient) async {
            follower.cancel()
            await follower.value
            await client.close()
        }
    }

    /// Writes the synthetic cluster under `keys` and returns once a view of it is synced.
    /// - Parameter localPrefix: the client prefix of site `s0` (so a load generator on this machine is its viewer).
    static func seed(_ client: EtcdClient, keys: ClusterKeys, sites: Int, tenants: Int, demand: Bool, localPrefix: String? = nil) async throws -> Seeded {
        var operations: [EtcdOperation] = []
        let now = Date().timeIntervalSince1970
        func flush(force: Bool = false) async throws {
            guard operations.count >= 100 || (force && !operations.isEmpty) else { return }
            _ = try await client.transaction(if: [], then: operations)
            operations = []
        }
        for t in 0..<tenants {
            let tenant = TenantConfiguration(name: "t\(t)", origin: "http://127.0.0.1:9", hostnames: ["t\(t).example"], quotaPerSite: 2)
            operations.append(.put(key: keys.tenant(tenant.name), value: ClusterRecords.encode(TenantRecord(tenant))))
        }
        for s in 0..<sites {
            let site = SiteConfiguration(
                name: "s\(s)", clientPrefix: s == 0 ? localPrefix ?? "10.0.0.0/24" : "10.\(s / 256).\(s % 256).0/24", instanceBase: "172.16.\(s % 256).10", maxInstances: tenants * 2
            )
            operations.append(.put(key: keys.site(site.name), value: ClusterRecords.encode(SiteRecord(site))))
            operations.append(.put(key: keys.agent(site.name), value: ClusterRecords.encode(MemberRecord(id: "a\(s)", role: "agent", site: site.name, since: now))))
            var tenantDemand: [String: DemandRecord.Tenant] = [:]
            for t in 0..<tenants {
                let id = "s\(s)-t\(t)-1"
                let placement = PlacementRecord(
                    id: id, site: site.name, tenant: "t\(t)", slot: t, address: site.instanceAddress(slot: t) ?? "", port: 18080, adminPort: 18081,
                    origin: "http://127.0.0.1:9", placedBy: "bench", placedAt: now
                )
                let record = InstanceRecord(
                    id: id, site: site.name, tenant: "t\(t)", state: .ready, url: placement.spec.url, adminURL: placement.spec.adminURL,
                    backend: "bench", startedAt: now, readyAt: now, requests: 1, connectionsOpen: 1
                )
                operations.append(.put(key: keys.placement(site: site.name, id: id), value: ClusterRecords.encode(placement)))
                operations.append(.put(key: keys.slot(site: site.name, t), value: Array(id.utf8)))
                operations.append(.put(key: keys.status(site: site.name, id: id), value: ClusterRecords.encode(StatusRecord(agent: "a\(s)", instance: record, lastActivity: now))))
                tenantDemand["t\(t)"] = DemandRecord.Tenant(viewers: 1 + (s + t) % 7, requests: 10, instances: [id: 1])
                try await flush()
            }
            if demand {
                operations.append(.put(key: keys.demand(router: "r1", site: site.name), value: ClusterRecords.encode(DemandRecord(router: "r1", site: site.name, at: now, tenants: tenantDemand))))
            }
            try await flush()
        }
        try await flush(force: true)
        let view = ClusterView(keys: keys, logger: logger)
        let follower = Task { await view.follow(client) }
        guard await view.wait(timeout: 60, until: { $0.synced && $0.placements.count == sites }) else {
            follower.cancel()
            throw EtcdError(.timeout, "the view of \(keys.root) did not sync within 60 s")
        }
        return Seeded(view: view, follower: follower)
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
    }

    static func connect(_ url: String) throws -> EtcdClient {
        var configuration = try EtcdConfiguration(url: url)
        configuration.requestTimeout = .seconds(10)
        return try EtcdClient(configuration: configuration)
    }

    /// The synthetic cluster under the product's own keys, for an `ecdn router` to serve.
    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the synthetic cluster under /ecdn/ (site s0 holds --local-prefix) and exit, for a real ecdn router."
        )

        @OptionGroup var options: Options

        @Option(help: ArgumentHelp("Client prefix of site s0, e.g. 127.0.0.0/8 for a load generator on this machine.", valueName: "A.B.C.D/LEN"))
        var localPrefix = "127.0.0.0/8"

        func run() async throws {
            let client = try ClusterBench.connect(options.store)
            let seeded = try await ClusterBench.seed(client, keys: ClusterKeys(), sites: options.sites, tenants: options.tenants, demand: false, localPrefix: localPrefix)
            print("seeded: \(options.sites) sites x \(options.tenants) tenants under /ecdn/; viewers from \(localPrefix) are site s0's; tenant tN answers Host tN.example")
            await seeded.close(client)
        }
    }

    /// Router decisions at a fixed rate, on a view fed by the etcd watch.
    struct RouterLatency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "router", abstract: "Decision latency p50/p99 of ClusterRouter.route at a fixed rate.")

        @OptionGroup var options: Options

        @Option(help: "Decisions per second.")
        var rate = 10_000

        @Option(help: "Seconds to run.")
        var seconds = 10.0

        func run() async throws {
            let client = try ClusterBench.connect(options.store)
            let keys = ClusterKeys(root: "/bench-\(getpid())/")
            let seeded = try await ClusterBench.seed(client, keys: keys, sites: options.sites, tenants: options.tenants, demand: false)
            let view = seeded.view
            let router = try await ClusterRouter(
                // The view's instances are records only: nothing to check.
                configuration: ClusterRouterConfiguration(id: "bench", port: 0, cacheCheckInterval: 0, cacheCheckTimeout: 0), client: client, view: view,
                group: MultiThreadedEventLoopGroup.singleton, logger: ClusterBench.logger
            )
            var latencies: [Double] = []
            latencies.reserveCapacity(Int(Double(rate) * seconds))
            var cached = 0
            let clock = ContinuousClock()
            let start = clock.now
            let total = Int(Double(rate) * seconds)
            for i in 0..<total {
                // Paced: request i is due at start + i / rate.
                let due = start + .nanoseconds(Int64(Double(i) / Double(rate) * 1e9))
                if clock.now < due { try await Task.sleep(until: due, clock: clock) }
                let s = i % options.sites
                let t = (i / options.sites) % options.tenants
                let began = clock.now
                let target = await router.route(site: "s\(s)", tenant: "t\(t)", client: "10.\(s / 256).\(s % 256).\(1 + i % 200)", content: "/live/1")
                latencies.append((clock.now - began).seconds * 1000)
                if case .cache = target { cached += 1 }
            }
            let elapsed = (clock.now - start).seconds
            latencies.sort()
            print(String(
                format: "router: %d decisions in %.2f s (%.0f/s), %d to a cache; latency ms p50 %.4f p90 %.4f p99 %.4f max %.3f; view %d sites x %d tenants",
                total, elapsed, Double(total) / elapsed, cached, percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99),
                latencies.last ?? 0, options.sites, options.tenants
            ))
            try await client.delete(keys.root, prefix: true)
            await seeded.close(client)
        }
    }

    /// Leader plans per second over the whole cluster.
    struct Planner: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "planner", abstract: "Plans per second of the leader over every site and tenant.")

        @OptionGroup var options: Options

        @Option(help: "Seconds to run.")
        var seconds = 5.0

        func run() async throws {
            let client = try ClusterBench.connect(options.store)
            let keys = ClusterKeys(root: "/bench-\(getpid())/")
            let seeded = try await ClusterBench.seed(client, keys: keys, sites: options.sites, tenants: options.tenants, demand: true)
            let view = seeded.view
            let planner = ClusterPlanner(configuration: ControllerConfiguration(idleTimeout: 30))
            let clock = ContinuousClock()
            let start = clock.now
            var rounds = 0
            var plans = 0
            while (clock.now - start).seconds < seconds {
                let state = view.current
                plans += planner.plan(state, leader: "bench", now: Date().timeIntervalSince1970).count
                rounds += 1
            }
            let elapsed = (clock.now - start).seconds
            print(String(
                format: "planner: %d rounds in %.2f s: %.1f rounds/s, %.1f ms per round, %.0f site-tenant decisions/s (%d sites x %d tenants; %d site plans)",
                rounds, elapsed, Double(rounds) / elapsed, elapsed / Double(rounds) * 1000,
                Double(rounds * options.sites * options.tenants) / elapsed, options.sites, options.tenants, plans
            ))
            try await client.delete(keys.root, prefix: true)
            await seeded.close(client)
        }
    }

    /// etcd writes per viewer arrival: viewers arrive at sites with caches for a while.
    ///
    /// Every arrival is a new viewer (its own client address), so every site's viewers change on
    /// every tick: the worst case for demand reports, which are written only when a site's
    /// viewers changed. A router writes at most one key per site per tick, all of a tick's keys
    /// in one transaction (one etcd revision), however many viewers arrive.
    struct Traffic: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "traffic", abstract: "etcd writes per viewer arrival at a router.")

        @OptionGroup var options: Options

        @Option(help: "Viewer arrivals per second, spread over the sites.")
        var rate = 1000

        @Option(help: "Seconds of arrivals.")
        var seconds = 10.0

        func run() async throws {
            let client = try ClusterBench.connect(options.store)
            let keys = ClusterKeys(root: "/bench-\(getpid())/")
            let seeded = try await ClusterBench.seed(client, keys: keys, sites: options.sites, tenants: options.tenants, demand: false)
            let view = seeded.view
            let router = try await ClusterRouter(
                // The view's instances are records only: nothing to check.
                configuration: ClusterRouterConfiguration(id: "bench", port: 0, cacheCheckInterval: 0, cacheCheckTimeout: 0), client: client, view: view,
                group: MultiThreadedEventLoopGroup.singleton, logger: ClusterBench.logger
            )
            let runner = Task { try await router.run() }
            _ = await view.wait(timeout: 10) { $0.routers["bench"] != nil }
            let before = try await client.snapshot(prefix: keys.leader).revision
            let writesBefore = router.etcdWrites
            let clock = ContinuousClock()
            let start = clock.now
            let total = Int(Double(rate) * seconds)
            for i in 0..<total {
                let due = start + .nanoseconds(Int64(Double(i) / Double(rate) * 1e9))
                if clock.now < due { try await Task.sleep(until: due, clock: clock) }
                let s = i % options.sites
                // A new viewer each time: 100.64.0.0/10 holds 4 million of them.
                let viewer = "100.\(64 + (i >> 16) & 63).\((i >> 8) & 255).\(i & 255)"
                _ = await router.route(site: "s\(s)", tenant: "t\((i / options.sites) % options.tenants)", client: viewer, content: "/live/1")
            }
            let arrivals = (clock.now - start).seconds
            // One more report interval, so the last arrivals are reported.
            try await Task.sleep(for: .seconds(1.5))
            let elapsed = (clock.now - start).seconds
            let after = try await client.snapshot(prefix: keys.leader).revision
            let writes = router.etcdWrites.keys - writesBefore.keys
            let transactions = router.etcdWrites.transactions - writesBefore.transactions
            print(String(
                format: "traffic: %d arrivals (each a new viewer) in %.1f s at %d sites x %d tenants: %d demand keys written by the router in %d transactions (etcd advanced %d revisions over %.1f s); %.4f writes per arrival; %.2f writes per site per second (at most 1 per site per tick)",
                total, arrivals, options.sites, options.tenants, writes, transactions, after - before, elapsed, Double(writes) / Double(total),
                Double(writes) / Double(options.sites) / elapsed
            ))
            runner.cancel()
            try? await runner.value
            try await client.delete(keys.root, prefix: true)
            await seeded.close(client)
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
