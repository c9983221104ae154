import EtcdClient
import Foundation
import Logging

/// Builds and removes the multi-host test bed (``TestbedConfiguration``): namespaces, veth
/// pairs on one bridge, a 3-member etcd cluster, controllers, routers, the origin and one agent
/// per site host, each process in its own host's namespace. Needs root and `ip` (iproute2).
///
/// Nothing outside the bed is touched: its addresses exist only on its bridge and in its
/// namespaces; ``down()`` kills every process in its namespaces, deletes them (which deletes
/// their links) and the bridge, and removes its folder.
public struct Testbed: Sendable {
    public let configuration: TestbedConfiguration
    private let logger: Logger

    public init(configuration: TestbedConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The URLs a finished ``up(progress:)`` prints.
    public struct URLs: Sendable {
        public var routers: [String]
        public var apis: [String]
        public var origin: String
        public var store: String
    }

    // MARK: Up

    /// Builds the bed and starts every process; returns once the cluster has a leader, every
    /// agent reported and every router listens.
    /// - Throws: ``ControlError`` with the failing command and its output; the partial bed is removed.
    public func up(progress: (String) -> Void = { _ in }) async throws(ControlError) -> URLs {
        let c = configuration
        do throws(ControlError) {
            try preflight()
            progress("network: bridge \(c.bridge), \(c.hosts.count) hosts")
            try network()
            progress("etcd: 3 members")
            for n in 1...3 { try startEtcd(n) }
            let client: EtcdClient
            do {
                client = try EtcdClient(configuration: EtcdConfiguration(url: c.storeURL))
            } catch {
                throw ControlError(.storeFailed, "\(error)", underlying: error)
            }
            defer { Task { await client.close() } }
            try await waitFor("etcd quorum", timeout: 30) { (try? await client.status()) != nil }
            let sites = (1...c.sites).map {
                SiteConfiguration(name: "site\($0)", clientPrefix: c.clientPrefix(site: $0), instanceBase: c.instanceBase(site: $0))
            }
            let tenants = [
                TenantConfiguration(name: "default", origin: c.originURL, pathPrefix: "/", quotaPerSite: 2),
                TenantConfiguration(name: "vod", origin: c.originURL, pathPrefix: "/vod/", quotaPerSite: 1),
            ]
            try await ClusterSeed.write(client: client, sites: sites, tenants: tenants, overwrite: true)
            progress("origin, \(c.controllers) controllers, \(c.routers) routers, \(c.sites) agents")
            try start("origin", "origin", [c.ecdn, "origin", "--host", c.originAddress, "--port", "8002"])
            for n in 1...c.controllers {
                try start("ctl\(n)", "ctl\(n)", [c.ecdn, "controller", "--store", c.storeURL, "--id", "ctl\(n)", "--api", "\(c.controllerAddress(n)):8001"] + c.controllerArguments)
            }
            for n in 1...c.routers {
                try start("rtr\(n)", "rtr\(n)", [c.ecdn, "router", "--store", c.storeURL, "--id", "rtr\(n)", "--listen", "\(c.routerAddress(n)):8000"])
            }
            for n in 1...c.sites { try startAgent(n) }
            let view = ClusterView(logger: logger)
            let follower = Task { await view.follow(client) }
            defer { follower.cancel() }
            try await waitFor("a leader, \(c.sites) agents and \(c.routers) routers", timeout: 30) {
                view.read { $0.leader != nil && $0.agents.count == c.sites && $0.routers.count == c.routers }
            }
            return URLs(routers: (1...c.routers).map(c.routerURL), apis: (1...c.controllers).map(c.apiURL), origin: c.originURL, store: c.storeURL)
        } catch {
            await down()
            throw error
        }
    }

    private func preflight() throws(ControlError) {
        guard getuid() == 0 else { throw ControlError(.badConfiguration, "the test bed needs root (network namespaces): run it as root") }
        for tool in ["/usr/sbin/ip", configuration.etcd, configuration.ecdn, configuration.minicache] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw ControlError(.badConfiguration, "\(tool) is missing: install iproute2 and etcd-server (apt-get install -y iproute2 etcd-server) and build ecdn and minicache")
        }
        if namespaces().contains(where: { $0.hasPrefix(configuration.name + "-") }) {
            throw ControlError(.badConfiguration, "a test bed named \(configuration.name) is up already: run `ecdn testbed down` first")
        }
    }

    private func network() throws(ControlError) {
        let c = configuration
        try? FileManager.default.createDirectory(atPath: c.directory, withIntermediateDirectories: true)
        try ip(["link", "add", c.bridge, "type", "bridge"])
        try ip(["addr", "add", "\(c.bridgeAddress)/16", "dev", c.bridge])
        try ip(["link", "set", c.bridge, "up"])
        for (role, address) in c.hosts {
            let ns = c.namespace(role)
            try ip(["netns", "add", ns])
            try ip(["link", "add", c.link(role), "type", "veth", "peer", "name", "eth0", "netns", ns])
            try ip(["link", "set", c.link(role), "master", c.bridge, "up"])
            try ip(["-n", ns, "addr", "add", "\(address)/16", "dev", "eth0"])
            try ip(["-n", ns, "link", "set", "eth0", "up"])
            try ip(["-n", ns, "link", "set", "lo", "up"])
        }
        // Site hosts own their instances' /24, client namespaces their viewers' /24: any address
        // in it can be bound, and the host answers ARP for it on the bridge.
        for n in 1...c.sites {
            try ip(["-n", c.namespace("site\(n)"), "route", "add", "local", "10.77.\(n).0/24", "dev", "lo"])
            try ip(["-n", c.namespace("view\(n)"), "route", "add", "local", c.clientPrefix(site: n), "dev", "lo"])
        }
    }

    /// Starts etcd member `n` (again, with its data, after it was killed).
    public func startEtcd(_ n: Int) throws(ControlError) {
        let c = configuration
        let peers = (1...3).map { "m\($0)=http://\(c.etcdAddress($0)):2380" }.joined(separator: ",")
        let data = "\(c.directory)/etcd\(n)"
        try start("etcd\(n)", "etcd\(n)", [
            c.etcd, "--name", "m\(n)", "--data-dir", data,
            "--listen-client-urls", "http://\(c.etcdAddress(n)):2379", "--advertise-client-urls", "http://\(c.etcdAddress(n)):2379",
            "--listen-peer-urls", "http://\(c.etcdAddress(n)):2380", "--initial-advertise-peer-urls", "http://\(c.etcdAddress(n)):2380",
            "--initial-cluster", peers, "--initial-cluster-state", "new", "--initial-cluster-token", c.name, "--log-level", "warn",
        ])
    }

    /// Starts the agent of site `n` (again, after it was stopped).
    public func startAgent(_ n: Int) throws(ControlError) {
        let c = configuration
        try start("site\(n)", "agent\(n)", [
            c.ecdn, "agent", "--store", c.storeURL, "--site", "site\(n)", "--minicache", c.minicache,
            "--work-dir", "\(c.directory)/site\(n)", "--lease-ttl", "\(c.agentLeaseTTL)", "--volume-size", "\(32 << 20)",
        ])
    }

    /// Starts router `n` (again).
    public func startRouter(_ n: Int) throws(ControlError) {
        let c = configuration
        try start("rtr\(n)", "rtr\(n)", [c.ecdn, "router", "--store", c.storeURL, "--id", "rtr\(n)", "--listen", "\(c.routerAddress(n)):8000"])
    }

    /// Runs `arguments` inside host `role`'s namespace, detached, output to `<directory>/<log>.log`.
    public func start(_ role: String, _ log: String, _ arguments: [String]) throws(ControlError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", configuration.namespace(role), "/usr/bin/setsid"] + arguments
        let path = "\(configuration.directory)/\(log).log"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: path)
        process.standardError = FileHandle(forWritingAtPath: path)
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ControlError(.spawnFailed, "cannot start \(arguments.first ?? "") in \(role): \(error)", underlying: error)
        }
    }

    // MARK: Faults

    /// Processes running in host `role`'s namespace, with their command lines.
    public func processes(_ role: String) -> [(pid: Int32, command: String)] {
        (try? output(["/usr/sbin/ip", "netns", "pids", configuration.namespace(role)]))?
            .split(separator: "\n").compactMap { Int32($0) }
            .map { ($0, ChildProcess.commandLine($0) ?? "") } ?? []
    }

    /// Sends `signal` to every process in `role` whose command line contains `matching`.
    @discardableResult
    public func signal(_ role: String, matching: String = "", _ signal: Int32) -> Int {
        let victims = processes(role).filter { matching.isEmpty || $0.command.contains(matching) }
        for victim in victims { kill(victim.pid, signal) }
        return victims.count
    }

    /// Cuts host `role` off the bridge (its veth down), or connects it again.
    public func setLink(_ role: String, up: Bool) throws(ControlError) {
        try ip(["link", "set", configuration.link(role), up ? "up" : "down"])
    }

    // MARK: Down

    /// Kills every process in the bed's namespaces, deletes them, the bridge and the folder.
    /// Safe to call on a partial or absent bed.
    public func down() async {
        let c = configuration
        let mine = namespaces().filter { $0.hasPrefix(c.name + "-") }
        for _ in 0..<50 {
            var alive = 0
            for ns in mine {
                let pids = ((try? output(["/usr/sbin/ip", "netns", "pids", ns])) ?? "").split(separator: "\n").compactMap { Int32($0) }
                for pid in pids { kill(pid, SIGKILL) }
                alive += pids.count
            }
            if alive == 0 { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        for ns in mine { try? ip(["netns", "del", ns]) }
        for link in links() { try? ip(["link", "del", link]) }
        try? FileManager.default.removeItem(atPath: c.directory)
    }

    /// The bed's namespaces, links and processes now (the test counts them before and after).
    public func leftovers() -> (namespaces: [String], links: [String], processes: Int) {
        let mine = namespaces().filter { $0.hasPrefix(configuration.name + "-") }
        let count = mine.reduce(0) { total, ns in
            total + (((try? output(["/usr/sbin/ip", "netns", "pids", ns])) ?? "").split(separator: "\n").count)
        }
        return (mine, links(), count)
    }

    private func namespaces() -> [String] {
        ((try? output(["/usr/sbin/ip", "netns", "list"])) ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    private func links() -> [String] {
        ((try? output(["/usr/sbin/ip", "-o", "link", "show"])) ?? "").split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { return nil }
            let name = fields[1].split(separator: "@").first.map { String($0.dropLast($0.hasSuffix(":") ? 1 : 0)) } ?? ""
            return name.hasPrefix(configuration.name) ? name : nil
        }
    }

    // MARK: Plumbing

    private func ip(_ arguments: [String]) throws(ControlError) {
        _ = try output(["/usr/sbin/ip"] + arguments)
    }

    private func output(_ arguments: [String]) throws(ControlError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw ControlError(.spawnFailed, "cannot run \(arguments.joined(separator: " ")): \(error)", underlying: error)
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ControlError(.badConfiguration, "\(arguments.joined(separator: " ")) failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return text
    }

    private func waitFor(_ what: String, timeout: Double, _ condition: () async -> Bool) async throws(ControlError) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if await condition() { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
        throw ControlError(.timeout, "the test bed did not get \(what) within \(Int(timeout)) s; see the logs in \(configuration.directory)")
    }
}
