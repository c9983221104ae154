import CSandbox
@testable import ElasticControl
import Foundation
import HTTPToolkit
import LocalCA
import MediaOrigin
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The sandbox backend against the real `minicache` (the debug build: dynamic, so its shared
/// libraries are in the root) and `sandbox-probe`, a program that tries from inside a sandbox
/// what a tenant's code could. One test at a time: the tests check the host's interfaces and
/// cgroups this process owns, which another sandbox test running alongside would change.
@Suite(.enabled(if: SandboxBackend.unavailableReason == nil, "the sandbox backend needs root, network and PID namespaces and seccomp"), .serialized)
struct SandboxBackendTests {
    static func backend(
        _ name: String, executable: String = Binaries.minicache, tls: TLSFiles? = nil, configure: (inout SandboxConfiguration) -> Void = { _ in }
    ) throws -> SandboxBackend {
        var configuration = SandboxConfiguration()
        configure(&configuration)
        return try SandboxBackend(
            configuration: configuration,
            instances: ProcessBackendConfiguration(
                minicachePath: executable, workDirectory: TestEnvironment.temporaryDirectory(name), volumeSize: 16 << 20, tls: tls
            ),
            logger: TestEnvironment.logger
        )
    }

    static func spec(_ id: String, tenant: String = "t", address: String, origin: String = "http://127.0.0.1:9") -> InstanceSpec {
        InstanceSpec(id: id, site: "s", tenant: tenant, address: address, port: 18080, adminPort: 18081, origin: origin)
    }

    /// The namespaces a process is in (`net:[4026531840]`, ...).
    static func namespaces(of pid: Int32) -> [String: String] {
        var result: [String: String] = [:]
        for kind in ["net", "pid", "mnt", "uts", "ipc"] {
            result[kind] = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
        }
        return result
    }

    /// Every namespace some process on the host is in.
    static func namespacesInUse() -> Set<String> {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return Set(pids.flatMap { namespaces(of: $0).values })
    }

    /// The start of the names of the interfaces this process's sandboxes get (`mc` + its pid).
    static var ownInterfacePrefix: String { "mc" + String(format: "%06x", Int(getpid()) & 0xFF_FFFF) }

    static func interfaces() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [])
    }

    static func status(of pid: Int32) -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    /// Entries of the backend's work directory that belong to instances (not the shared root or spare volumes).
    static func instanceFiles(_ backend: SandboxBackend) -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: backend.instances.workDirectory)) ?? []
        return Set(names.filter { $0 != "root" && !$0.hasPrefix("spare-") })
    }

    @Test func instanceServesOnItsOwnAddressIsolatedAndStoppingLeavesNothingBehind() async throws {
        let backend = try Self.backend("sandbox-life") { $0.tenantLimits = ["t": ResourceLimits(memoryBytes: 256 << 20, pids: 100)] }
        let spec = Self.spec("life-1", address: "127.0.185.10")
        let groupsBefore = backend.cgroups.groupCount()
        let filesBefore = Self.instanceFiles(backend)
        let hostMountsBefore = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let interfacesBefore = Self.interfaces()

        try await backend.launch(spec)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        let status = try await HTTPClientForTests().get(spec.adminURL + "/admin/status")
        #expect(status.status == 200)
        #expect(String(buffer: status.body).contains("\"requests\""))

        let pid = try #require(backend.pid(of: spec.id))
        let inside = Self.namespaces(of: pid)
        let outside = Self.namespaces(of: getpid())
        for kind in ["net", "pid", "mnt", "uts", "ipc"] {
            #expect(inside[kind] != nil && inside[kind] != outside[kind], "own \(kind) namespace")
        }
        let fields = Self.status(of: pid)
        #expect(fields["CapEff"] == "0000000000000000")
        #expect(fields["CapPrm"] == "0000000000000000")
        #expect(fields["CapBnd"] == "0000000000000000")
        #expect(fields["NoNewPrivs"] == "1")
        #expect(fields["Seccomp"] == "2")
        #expect(fields["Uid"]?.hasPrefix("65534") == true)
        // The root holds the executable, its libraries (a dynamic build), mount points and /etc basics; read-only.
        let root = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/root"))
        #expect(root.isSuperset(of: ["minicache", "data", "dev", "proc"]))
        #expect(root.isSubset(of: ["minicache", "data", "dev", "proc", "etc", "lib", "lib64", "usr", "opt"]))
        let mounts = try String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8).split(separator: "\n")
        let rootMount = try #require(mounts.first { $0.split(separator: " ")[4] == "/" })
        #expect(rootMount.split(separator: " ")[5].hasPrefix("ro"))
        // Its cgroups, with the instance's limits.
        let cgroup = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        #expect(cgroup.contains("/t/life-1"))
        let directories = backend.cgroupDirectories(of: spec.id)
        #expect(!directories.isEmpty)
        if let memory = directories.first(where: { $0.contains("memory") }) {
            #expect(try String(contentsOfFile: memory + "/memory.limit_in_bytes", encoding: .utf8).hasPrefix("\(128 << 20)"))
        }
        if let pids = directories.first(where: { $0.contains("pids") }) {
            #expect(try String(contentsOfFile: pids + "/pids.max", encoding: .utf8).hasPrefix("64"))
            let tenant = (pids as NSString).deletingLastPathComponent
            #expect(try String(contentsOfFile: tenant + "/pids.max", encoding: .utf8).hasPrefix("100"))
        }
        let interface = try #require(backend.interfaceName(of: spec.id))
        #expect(Self.interfaces().contains(interface))
        #expect(backend.cgroups.groupCount() > groupsBefore)

        let how = await backend.terminate(spec.id, grace: 5)
        #expect(how == "exited with status 0")
        #expect(backend.probe(spec.id) == .exited("unknown instance"))
        // Nothing left: no process in its namespaces, no interface, cgroup, instance file or host mount.
        #expect(Self.namespacesInUse().isDisjoint(with: Set(inside.values)))
        #expect(!Self.interfaces().contains(interface))
        // Only this process's: other processes on the host may be starting sandboxes meanwhile.
        // The namespaces prepared ahead for the next starts stay until the backend stops. The
        // pool's thread refills it after the start: a namespace it is making has its veth on the
        // host before the pool lists it (on a loaded machine, often), so the check waits until
        // every new interface is listed (the pool is full); a leaked one never is.
        let leftovers = {
            let present = Self.interfaces()
            let idle = Set(backend.idleNetworkInterfaces)
            return present.subtracting(interfacesBefore).subtracting(idle).filter { $0.hasPrefix(Self.ownInterfacePrefix) }
        }
        #expect(await TestStack.eventually { leftovers().isEmpty }, "left behind: \(leftovers())")
        #expect(backend.cgroups.groupCount() == groupsBefore)
        #expect(directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(Self.instanceFiles(backend) == filesBefore)
        let hostMountsAfter = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let work = backend.instances.workDirectory
        #expect(hostMountsAfter.split(separator: "\n").filter { $0.contains(work) } == hostMountsBefore.split(separator: "\n").filter { $0.contains(work) })
        await backend.terminateAll(grace: 0)
    }

    @Test func aStartJoinsANamespacePreparedAheadAndStoppingTheBackendRemovesTheUnusedOnes() async throws {
        let backend = try Self.backend("sandbox-pool") { $0.preparedNetworks = 2 }
        #expect(await TestStack.eventually { backend.idleNetworkInterfaces.count == 2 })
        let prepared = Set(backend.idleNetworkInterfaces)
        #expect(Self.interfaces().isSuperset(of: prepared))
        let spec = Self.spec("pool-1", address: "127.0.183.10")
        try await backend.launch(spec)
        let interface = try #require(backend.interfaceName(of: spec.id))
        #expect(prepared.contains(interface))
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        #expect(try await HTTPClientForTests().get(spec.adminURL + "/admin/status").status == 200)
        // Its own namespace: the prepared one, not the host's, with only its address on eth0.
        let pid = try #require(backend.pid(of: spec.id))
        #expect(Self.namespaces(of: pid)["net"] != Self.namespaces(of: getpid())["net"])
        let route = try String(contentsOfFile: "/proc/\(pid)/net/route", encoding: .utf8)
        #expect(route.contains("eth0") && route.contains("0100FEA9"), "\(route)")
        // The pool refills behind the start.
        #expect(await TestStack.eventually { backend.idleNetworkInterfaces.count == 2 })
        let refilled = Set(backend.idleNetworkInterfaces)
        #expect(refilled.isDisjoint(with: [interface]))
        #expect(await backend.terminate(spec.id, grace: 5) == "exited with status 0")
        #expect(!Self.interfaces().contains(interface))
        await backend.terminateAll(grace: 0)
        #expect(Self.interfaces().isDisjoint(with: refilled))
        #expect(backend.idleNetworkInterfaces.isEmpty)
    }

    /// Mount point -> its per-mount options, from a process's mountinfo.
    static func mounts(of pid: Int32) throws -> [String: Set<Substring>] {
        var result: [String: Set<Substring>] = [:]
        for line in try String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 5 else { continue }
            result[String(fields[4])] = Set(fields[5].split(separator: ","))
        }
        return result
    }

    @Test func mountsCopiedFromTheTemplateAreThoseOfAnInstanceThatPivotsItself() async throws {
        let templated = try Self.backend("sandbox-mounts-template") { $0.preparedNetworks = 0 }
        let pivoting = try Self.backend("sandbox-mounts-pivot") {
            $0.preparedNetworks = 0
            $0.mountTemplate = false
        }
        #expect(templated.usesMountTemplate)
        #expect(!pivoting.usesMountTemplate)
        let first = Self.spec("mounts-1", address: "127.0.183.30")
        let second = Self.spec("mounts-2", address: "127.0.183.31")
        try await templated.launch(first)
        try await pivoting.launch(second)
        // Ready: each wrote its ready file into its own /data.
        #expect(await TestStack.eventually { templated.probe(first.id) == .ready && pivoting.probe(second.id) == .ready })
        let firstPID = try #require(templated.pid(of: first.id))
        let secondPID = try #require(pivoting.pid(of: second.id))
        let fromTemplate = try Self.mounts(of: firstPID)
        let ownPivot = try Self.mounts(of: secondPID)
        // The same four mounts with the same options: a read-only root, /data and /dev/null
        // without set-uid, devices or (for /data) programs, and the instance's own /proc.
        #expect(Set(fromTemplate.keys) == ["/", "/data", "/dev/null", "/proc"], "\(fromTemplate)")
        #expect(fromTemplate == ownPivot, "template \(fromTemplate), pivot \(ownPivot)")
        #expect(fromTemplate["/"]?.isSuperset(of: ["ro", "nosuid", "nodev"]) == true)
        #expect(fromTemplate["/data"]?.isSuperset(of: ["rw", "nosuid", "nodev", "noexec"]) == true)
        #expect(fromTemplate["/dev/null"]?.isSuperset(of: ["nosuid", "nodev", "noexec"]) == true)
        // Each /data is the instance's own directory, and each mount namespace its own.
        let firstData = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(firstPID)/root/data"))
        #expect(firstData.contains("ready") && firstData.contains("volume.shfs"))
        #expect(FileManager.default.contentsEqual(atPath: "/proc/\(firstPID)/root/data/ready", andPath: templated.directory(of: first.id)! + "/ready"))
        #expect(Self.namespaces(of: firstPID)["mnt"] != Self.namespaces(of: secondPID)["mnt"])
        #expect(Self.namespaces(of: firstPID)["mnt"] != Self.namespaces(of: getpid())["mnt"])
        #expect(try await HTTPClientForTests().get(first.adminURL + "/admin/status").status == 200)
        #expect(await templated.terminate(first.id, grace: 5) == "exited with status 0")
        #expect(await pivoting.terminate(second.id, grace: 5) == "exited with status 0")
        // The host's mounts are as they were (the template lives in a namespace of its own).
        let hostMountsAfter = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(hostMountsAfter.split(separator: "\n").filter { $0.contains("sandbox-mounts") }.isEmpty)
        await templated.terminateAll(grace: 0)
        await pivoting.terminateAll(grace: 0)
    }

    @Test func startActivityIsBusyWhileAStartRunsAndForAQuietPeriodAfter() {
        let activity = StartActivity()
        #expect(!activity.isBusy(quiet: 0.02))
        activity.begin()
        activity.begin()
        #expect(activity.isBusy(quiet: 0))
        activity.end()
        #expect(activity.isBusy(quiet: 0))
        activity.end()
        #expect(activity.isBusy(quiet: 3600))
        #expect(!activity.isBusy(quiet: 0))
    }

    @Test func withoutPreparedNamespacesAStartMakesItsOwn() async throws {
        let backend = try Self.backend("sandbox-no-pool") { $0.preparedNetworks = 0 }
        let spec = Self.spec("no-pool-1", address: "127.0.183.20")
        try await backend.launch(spec)
        #expect(backend.idleNetworkInterfaces.isEmpty)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        #expect(try await HTTPClientForTests().get(spec.adminURL + "/admin/status").status == 200)
        let interface = try #require(backend.interfaceName(of: spec.id))
        #expect(await backend.terminate(spec.id, grace: 5) == "exited with status 0")
        #expect(!Self.interfaces().contains(interface))
        #expect(backend.startProfile().map(\.step) == ["address", "clone", "cgroups", "network", "mounts", "credentials", "execve"])
        await backend.terminateAll(grace: 0)
    }

    @Test func theAdminTokenFileIsCopiedIntoTheSandboxAndItsAdminListenerAsksForIt() async throws {
        let tokenFolder = TestEnvironment.temporaryDirectory("sandbox-token-file")
        defer { try? FileManager.default.removeItem(atPath: tokenFolder) }
        let tokenFile = tokenFolder + "/admin.token"
        let token = try AdminTokenFile.prepare(tokenFile)
        let backend = try SandboxBackend(
            configuration: SandboxConfiguration(),
            instances: ProcessBackendConfiguration(
                minicachePath: Binaries.minicache, workDirectory: TestEnvironment.temporaryDirectory("sandbox-token"), volumeSize: 16 << 20,
                adminTokenFile: tokenFile
            ),
            logger: TestEnvironment.logger
        )
        let spec = Self.spec("token-1", address: "127.0.175.10")
        try await backend.launch(spec)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        try await AdminTokenCheck.expectAsked(adminURL: spec.adminURL, token: token, copyInRootOf: try #require(backend.pid(of: spec.id)))
        await backend.terminateAll(grace: 0)
        try? FileManager.default.removeItem(atPath: backend.instances.workDirectory)
    }

    @Test func oneTenantCannotReachSeeOrReadAnother() async throws {
        let backend = try Self.backend("sandbox-tenants")
        let probes = try Self.backend("sandbox-probes", executable: Binaries.sandboxProbe) { $0.seccomp = false }
        let victim = Self.spec("victim-1", tenant: "alpha", address: "127.0.186.10")
        try await backend.launch(victim)
        #expect(await TestStack.eventually { backend.probe(victim.id) == .ready })
        let host = try LoopbackListener()
        let beta = Self.spec("probe-1", tenant: "beta", address: "127.0.186.11")

        // The network works from inside (the host's listener answers), but the other tenant's cache does not.
        let reachHost = try await probes.run(beta, arguments: ["connect", "127.0.0.1", "\(host.port)"], seccomp: false)
        #expect(reachHost.exit == "exited with status 0", "\(reachHost.output)")
        let reachVictim = try await probes.run(beta, arguments: ["connect", victim.address, "18080"], seccomp: false)
        #expect(reachVictim.exit == "exited with status 1", "\(reachVictim.output)")
        #expect(try await HTTPClientForTests().get(victim.adminURL + "/admin/status").status == 200)

        // Only its own process, its own (empty) /data, none of the victim's files.
        let pids = try await probes.run(beta, arguments: ["pids"], seccomp: false)
        #expect(pids.output.contains("pids: 1\n"), "\(pids.output)")
        let victimDirectory = try #require(backend.directory(of: victim.id))
        let volume = try await probes.run(beta, arguments: ["open", victimDirectory + "/volume.shfs"], seccomp: false)
        #expect(volume.exit == "exited with status 1")
        let data = try await probes.run(beta, arguments: ["list", "/data"], seccomp: false)
        #expect(data.output == "list /data:\n")
        let root = try await probes.run(beta, arguments: ["list", "/"], seccomp: false)
        #expect(!root.output.contains("volume"))
        let identity = try await probes.run(beta, arguments: ["identity"], seccomp: false)
        #expect(identity.output.hasPrefix("uid 65534 gid 65534 capeff 0 capprm 0 capbnd 0 hostname probe-1"), "\(identity.output)")

        await backend.terminateAll(grace: 1)
        await probes.terminateAll(grace: 0)
        host.close()
    }

    static let curl = ["/usr/bin/curl", "/usr/local/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs curl and returns what it printed (`-w` output and errors).
    static func curl(_ arguments: [String]) async throws -> String {
        try await ProcessRun.run(try #require(curl), ["-sS", "--max-time", "20"] + arguments, mergingErrors: true).output
    }

    @Test(.enabled(if: SandboxBackendTests.curl != nil, "needs curl with HTTP/2 (apt-get install curl)"))
    func aTLSAndHTTP2InstanceServesUnderTheAllowListAndACallOutsideItKillsOnlyTheCaller() async throws {
        let origin = try await DemoOrigin(configuration: DemoOriginConfiguration(), group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger)
        defer { Task { await origin.close() } }
        let address = "127.0.173.10"
        // The backend's certificate for HTTPS instances, on the host and readable by root only:
        // the backend copies it into the instance's /data for the instance's user.
        let work = TestEnvironment.temporaryDirectory("sandbox-seccomp-tls-files")
        let authority = try LocalCertificateAuthority()
        let files = try authority.write(to: work, names: [address])
        let tls = try Self.backend("sandbox-seccomp-tls", tls: TLSFiles(certificate: files.certificate, key: files.key, ca: files.ca))
        let caFile = files.ca
        var neighbour = Self.spec("neighbour-1", address: address, origin: origin.url)
        neighbour.tls = true
        try await tls.launch(neighbour)
        #expect(await TestStack.eventually { tls.probe(neighbour.id) == .ready })
        let pid = try #require(tls.pid(of: neighbour.id))
        #expect(Self.status(of: pid)["Seccomp"] == "2")

        // Fills from the origin and hits, over h2 (several streams on one connection) and HTTP/1.1 over TLS.
        let https = "https://\(address):18080"
        let format = ["-w", "%{http_code} %{http_version} %{size_download}\\n", "--cacert", caFile]
        let fetch = { (path: String) in ["-o", "/dev/null", https + path] }
        let h2 = try await Self.curl(
            ["--http2", "--parallel", "--no-progress-meter"] + format + fetch("/vod/trailer.mp4") + fetch("/live/1/index.m3u8") + fetch("/vod/trailer.mp4")
        )
        let streams = h2.split(separator: "\n")
        #expect(streams.count == 3 && streams.allSatisfy { $0.hasPrefix("200 2 ") }, "\(h2)")
        #expect(streams.filter { $0 == "200 2 \(4 << 20)" }.count == 2, "\(h2)")
        let h1 = try await Self.curl(["--http1.1", "--tlsv1.2", "--tls-max", "1.2", "-H", "Range: bytes=100-199"] + format + fetch("/vod/trailer.mp4"))
        #expect(h1 == "206 1.1 100\n", "\(h1)")
        // Its copy of the key is the instance user's alone.
        let key = try FileManager.default.attributesOfItem(atPath: try #require(tls.directory(of: neighbour.id)) + "/tls-key.pem")
        #expect((key[.posixPermissions] as? Int) == 0o400 && (key[.ownerAccountID] as? Int) == 65534)
        let status = try await HTTPClientForTests().get(neighbour.adminURL + "/admin/status")
        #expect(String(buffer: status.body).contains("\"requests\""))

        // A tenant's program calling ptrace is killed by the filter; the host and the TLS neighbour carry on.
        let probes = try Self.backend("sandbox-seccomp-probe", executable: Binaries.sandboxProbe)
        let result = try await probes.run(Self.spec("probe-2", address: "127.0.173.11"), arguments: ["forbidden"], seccomp: true)
        #expect(result.exit == "killed by signal 31 (SIGSYS): a system call outside the seccomp allow-list")
        #expect(result.output.contains("calling ptrace"))
        #expect(!result.output.contains("ptrace returned"))
        #expect(try await Self.curl(["--http2"] + format + fetch("/live/1/index.m3u8")).hasPrefix("200 2 "))
        #expect(tls.probe(neighbour.id) == .ready)
        #expect(await tls.terminate(neighbour.id, grace: 5) == "exited with status 0")
        await tls.terminateAll(grace: 1)
        await probes.terminateAll(grace: 0)
        try? FileManager.default.removeItem(atPath: work)
    }

    @Test func killNineIsReportedAndAFailedStartNamesTheRuntimeStep() async throws {
        let backend = try Self.backend("sandbox-faults")
        let spec = Self.spec("kill-1", address: "127.0.174.10")
        let groupsBefore = backend.cgroups.groupCount()
        try await backend.launch(spec)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        let groups = backend.cgroups.groupCount()
        let files = Self.instanceFiles(backend)

        // A second instance on the same address: the host already routes it to the first.
        let clash = Self.spec("clash-1", address: "127.0.174.10")
        await #expect {
            try await backend.launch(clash)
        } throws: { error in
            "\(error)" == "sandbox: add the host's route to the instance: File exists (errno 17)"
        }
        #expect(backend.probe(clash.id) == .exited("unknown instance"))
        #expect(backend.cgroups.groupCount() == groups)
        #expect(Self.instanceFiles(backend) == files)

        let pid = try #require(backend.pid(of: spec.id))
        kill(pid, SIGKILL)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .exited("killed by signal 9") })
        #expect(await backend.terminate(spec.id, grace: 0) == "killed by signal 9")
        #expect(backend.cgroups.groupCount() == groupsBefore)
        await backend.terminateAll(grace: 0)
    }

    @Test func instanceOverItsMemoryLimitIsKilledByTheKernelReportedAndReplaced() async throws {
        // Objects up to 64 MiB are kept in memory, the budget is 1 GiB, the cgroup allows 40 MiB:
        // caching the 32 MiB movie pushes the instance over its limit.
        let stack = try await TestStack(
            octet: 175, controller: { $0.readyTimeout = 10 },
            sandbox: SandboxConfiguration(instanceLimits: ResourceLimits(memoryBytes: 40 << 20, cpus: 1, pids: 64)),
            extraArguments: ["--threads", "1", "--small-object-limit", "\(64 << 20)", "--memory-budget", "\(1 << 30)"], volumeSize: 256 << 20
        )
        let client = stack.client
        let first = try await client.get(stack.router.url + "/vod/movie2.mp4", from: "127.0.175.5")
        let victim = try #require(first.headers.first(name: "X-ECDN-Instance"))
        let location = try #require(first.headers.first(name: "Location"))
        _ = try? await client.get(location)
        _ = try? await client.get(location)
        let crashed = await TestStack.eventually {
            stack.controller.events().contains { $0.kind == "crash" && $0.instance == victim }
        }
        #expect(crashed)
        let events = stack.controller.events()
        #expect(events.contains { $0.kind == "crash" && $0.instance == victim && $0.message.contains("killed by the kernel: out of memory (memory limit 40 MiB)") })
        #expect(events.contains { $0.kind == "replace" })
        #expect(await TestStack.eventually {
            stack.controller.liveInstances().contains { $0.state == .ready && $0.id != victim && $0.backend == "sandbox" }
        })
        await stack.stop()
    }

    @Test func ecdnUpWithSandboxedSitesServesViewersAndLeavesNothingAtSIGTERM() async throws {
        let up = try await UpProcess([
            "up", "--backend", "sandbox", "--router-port", "0", "--api-port", "0", "--origin-port", "0", "--first-site-octet", "178",
            "--sites", "1", "--single-tenant", "--router-wait", "10", "--ready-timeout", "60",
        ])
        let process = up.process
        let lines = up.lines
        let router = try #require(lines["router"])
        let api = try #require(lines["api"])
        let client = HTTPClientForTests()
        let redirect = try await client.get(router + "/live/1/index.m3u8", from: "127.0.178.8")
        let location = try #require(redirect.headers.first(name: "Location"))
        #expect(location.hasPrefix("http://127.0.178.10:18080/"))
        let playlist = try await client.get(location, from: "127.0.178.8")
        #expect(playlist.status == 200)
        #expect(String(buffer: playlist.body).hasPrefix("#EXTM3U"))
        let instances = try await client.get(api + "/instances")
        let records = try #require(try JSONSerialization.jsonObject(with: Data(instances.body.readableBytesView)) as? [[String: Any]])
        #expect(!records.isEmpty && records.allSatisfy { $0["backend"] as? String == "sandbox" })
        let sites = try await client.get(api + "/sites")
        #expect(String(buffer: sites.body).contains("\"backend\":\"sandbox\""))
        let pid = process.processIdentifier
        let ours = { Self.interfaces().filter { $0.hasPrefix("mc" + String(format: "%06x", Int(pid) & 0xFF_FFFF)) } }
        #expect(!ours().isEmpty)
        process.terminate()
        #expect(await TestStack.eventually { !process.isRunning })
        #expect(ours().isEmpty)
        let cgroups = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n")
            .compactMap { line -> String? in
                let fields = line.split(separator: " ")
                return fields.count > 8 && line.contains(" - cgroup ") ? String(fields[4]) : nil
            }
        let leftovers = cgroups.flatMap { mount -> [String] in
            let enumerator = FileManager.default.enumerator(atPath: mount)
            var found: [String] = []
            while let path = enumerator?.nextObject() as? String {
                if path.hasSuffix("ecdn-sandbox-\(pid)-1") { found.append(mount + "/" + path) }
                if path.split(separator: "/").count > 3 { enumerator?.skipDescendants() }
            }
            return found
        }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func aRestartedOwnerAdoptsRunningSandboxesAndFreesTheOnesThatEnded() async throws {
        let work = TestEnvironment.temporaryDirectory("sandbox-adopt")
        let make = {
            try SandboxBackend(
                configuration: SandboxConfiguration(),
                instances: ProcessBackendConfiguration(minicachePath: Binaries.minicache, workDirectory: work, volumeSize: 16 << 20, detached: true),
                logger: TestEnvironment.logger
            )
        }
        let alive = Self.spec("adopt-1", address: "127.0.180.10")
        let gone = Self.spec("adopt-2", address: "127.0.180.11")
        // The first owner starts two caches and goes away (its backend is released)...
        func firstOwner() async throws -> (pid: Int32, gonePid: Int32, interface: String, goneInterface: String) {
            let owner = try make()
            try await owner.launch(alive)
            try await owner.launch(gone)
            #expect(await TestStack.eventually { owner.probe(alive.id) == .ready && owner.probe(gone.id) == .ready })
            return (
                try #require(owner.pid(of: alive.id)), try #require(owner.pid(of: gone.id)),
                try #require(owner.interfaceName(of: alive.id)), try #require(owner.interfaceName(of: gone.id))
            )
        }
        let (pid, gonePid, interface, goneInterface) = try await firstOwner()
        // ...its caches run on, and one of them ends while nobody watches.
        #expect(UpTests.alive(pid))
        kill(gonePid, SIGKILL)
        #expect(await TestStack.eventually { !UpTests.alive(gonePid) })

        let second = try make()
        let adopted = await second.adopt()
        #expect(adopted.count == 2)
        #expect(adopted.first { $0.spec == alive }?.probe == .ready)
        #expect(adopted.first { $0.spec == gone }?.probe == .exited("ended while its agent was away"))
        #expect(second.pid(of: alive.id) == pid)
        #expect(second.probe(alive.id) == .ready)
        #expect(try await HTTPClientForTests().get(alive.adminURL + "/admin/status").status == 200)
        #expect(second.probe(gone.id) == .exited("unknown instance"))
        #expect(!Self.interfaces().contains(goneInterface))

        let how = await second.terminate(alive.id, grace: 5)
        #expect(how.hasPrefix("exited") || how.hasPrefix("ended"))
        #expect(!UpTests.alive(pid))
        #expect(!Self.interfaces().contains(interface))
        #expect(second.cgroups.groupCount() == 0)
        #expect(Self.instanceFiles(second).filter { !$0.hasPrefix("root-") }.isEmpty)
        await second.terminateAll(grace: 0)
        try? FileManager.default.removeItem(atPath: work)
    }

    @Test func instanceAndTenantLimitsCapTasksCPUAndMemory() async throws {
        let probes = try Self.backend("sandbox-limits", executable: Binaries.sandboxProbe) {
            $0.seccomp = false
            $0.instanceLimits = ResourceLimits(memoryBytes: 64 << 20, cpus: 1, pids: 8)
            $0.tenantLimits = ["small": ResourceLimits(memoryBytes: 24 << 20, cpus: 0.1, pids: 5)]
        }
        let groupsBefore = probes.cgroups.groupCount()
        let big = { (n: Int) in Self.spec("limits-big-\(n)", tenant: "big", address: "127.0.181.\(10 + n)") }
        let small = { (n: Int) in Self.spec("limits-small-\(n)", tenant: "small", address: "127.0.181.\(20 + n)") }

        // Tasks: the instance's own 8 (the probe and 7 children), then its tenant's lower 5.
        let ownTasks = try await probes.run(big(1), arguments: ["fork", "20"], seccomp: false)
        #expect(ownTasks.output.hasPrefix("forked 7 of 20: Resource temporarily unavailable"), "\(ownTasks.output)")
        let tenantTasks = try await probes.run(small(1), arguments: ["fork", "20"], seccomp: false)
        #expect(tenantTasks.output.hasPrefix("forked 4 of 20: Resource temporarily unavailable"), "\(tenantTasks.output)")

        // CPU: a tenant held to a tenth of a core gets about that over a second of spinning.
        let spin = try await probes.run(small(2), arguments: ["spin", "1000"], seccomp: false)
        let words = spin.output.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let cpu = try #require(words.firstIndex(of: "cpu").flatMap { Int(words[$0 + 1]) }, "\(spin.output)")
        #expect(spin.exit == "exited with status 0")
        #expect(cpu < 400, "\(spin.output)")

        // Memory: 48 MiB fits the instance's 64 MiB, but not its tenant's 24 MiB: the kernel kills it, not the host.
        let fits = try await probes.run(big(2), arguments: ["alloc", "48"], seccomp: false)
        #expect(fits.exit == "exited with status 0", "\(fits.output)")
        #expect(fits.output.contains("allocated 48 MiB: done"))
        let over = try await probes.run(small(3), arguments: ["alloc", "48"], seccomp: false)
        #expect(over.exit == "killed by the kernel: out of memory (memory limit 64 MiB; tenant small 24 MiB)", "\(over.output)")
        #expect(!over.output.contains("done"))
        #expect(probes.cgroups.groupCount() == groupsBefore)
        await probes.terminateAll(grace: 0)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter"), "needs nsenter (util-linux)"))
    func aStartingBackendRemovesTheInterfacesEndedOwnersLeftThatNoInstanceUses() async throws {
        // A process id nobody has: a child that ended.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        await ended.exited()
        let name = { (owner: Int32, number: Int) in "mc" + String(format: "%06x%06x", Int(owner) & 0xFF_FFFF, number) }
        let mac = { (n: UInt8) in [0x02, 0xEC, 0x7E, 0x00, 0x00, n] as [UInt8] }
        let work = TestEnvironment.temporaryDirectory("sandbox-leftovers")
        let source = inet_addr("127.0.0.1")
        var step: UnsafePointer<CChar>?
        // A veth whose namespace (bound to a file, as an oci container's) has no process left.
        let empty = name(ended.processIdentifier, 0xA1)
        #expect(csandbox_netns_create(work + "/empty", empty, mac(1), mac(2), inet_addr("127.0.184.10"), source, &step) == 0)
        // A veth whose namespace has a process (a detached instance whose agent ended).
        let used = name(ended.processIdentifier, 0xA2)
        #expect(csandbox_netns_create(work + "/used", used, mac(3), mac(4), inet_addr("127.0.184.11"), source, &step) == 0)
        let resident = Process()
        resident.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        resident.arguments = ["--net=" + work + "/used", "sleep", "60"]
        try resident.run()
        // A tap no process holds open (a microVM's after QEMU ended), and one of a running owner.
        let closedTap = name(ended.processIdentifier, 0xA3)
        #expect(csandbox_tap_create(closedTap, mac(5), &step) == 0)
        let ownTap = name(getpid(), 0xA4)
        #expect(csandbox_tap_create(ownTap, mac(6), &step) == 0)
        #expect(Self.interfaces().isSuperset(of: [empty, used, closedTap, ownTap]))
        let hostNetwork = Self.namespaces(of: getpid())["net"]
        #expect(await TestStack.eventually { Self.namespaces(of: resident.processIdentifier)["net"].map { $0 != hostNetwork } == true })

        let backend = try Self.backend("sandbox-leftovers")
        let after = Self.interfaces()
        #expect(!after.contains(empty))
        #expect(!after.contains(closedTap))
        #expect(after.contains(used))
        #expect(after.contains(ownTap))
        // A route of the removed veth is gone with it: the address can be used again.
        #expect(csandbox_netns_create(work + "/again", name(getpid(), 0xA5), mac(7), mac(8), inet_addr("127.0.184.10"), source, &step) == 0)

        await resident.stop(SIGKILL)
        for interface in [used, ownTap, name(getpid(), 0xA5)] { _ = csandbox_delete_link(interface) }
        for file in ["empty", "used", "again"] { csandbox_netns_remove(work + "/" + file) }
        await backend.terminateAll(grace: 0)
        try? FileManager.default.removeItem(atPath: work)
    }

    @Test func theAllowListHoldsWhatMinicacheNeedsAndNotWhatItMustNot() {
        let names = Set((0..<csandbox_allowed_syscall_count()).compactMap { csandbox_allowed_syscall_name($0).map { String(cString: $0) } })
        #expect(names.isSuperset(of: ["read", "write", "accept4", "epoll_wait", "execve", "exit_group"]))
        #expect(names.isDisjoint(with: ["ptrace", "mount", "umount2", "pivot_root", "setns", "unshare", "bpf", "init_module", "kexec_load", "reboot"]))
    }
}

/// Site backend selection, the density benchmark's bookkeeping, and cgroup layouts this host does not have.
struct BackendSelectionTests {
    @Test func densityBenchmarkStartsChecksAndStopsEveryInstance() async throws {
        let work = TestEnvironment.temporaryDirectory("density")
        let backend = try ProcessBackend(
            configuration: ProcessBackendConfiguration(minicachePath: Binaries.minicache, workDirectory: work, volumeSize: 16 << 20, spareVolumes: 5),
            logger: TestEnvironment.logger
        )
        let report = await DensityBenchmark(instances: 3, singleStarts: 2, concurrency: 2, firstAddress: "127.0.179.10").run(backend: backend, kind: "process")
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.serving == 3)
        #expect(report.pssPerInstanceMiB > 0)
        #expect(report.spawnToReadyP50Milliseconds > 0)
        #expect(report.summaryLine.hasPrefix("serving 3/3; pss_per_instance_mib "))
        #expect(report.summaryLine.contains("; starts_per_s ") && report.summaryLine.contains("; spawn_to_ready_p50_ms "))
        #expect(backend.pid(of: "i-0") == nil)
        try? FileManager.default.removeItem(atPath: work)
    }

    @Test func sitesUseTheBackendOfTheirKindAndRecordsNameIt() throws {
        let work = TestEnvironment.temporaryDirectory("kinds")
        var settings = BackendSettings(instances: ProcessBackendConfiguration(minicachePath: Binaries.minicache, workDirectory: work))
        var sites = SiteConfiguration.loopbackSites(2, firstOctet: 176)
        // A backend that cannot start here fails the whole set, with its reason.
        settings.oci.runtime = "/nonexistent/runc"
        sites[1].backend = .oci
        #expect(throws: ControlError.self) { try SiteBackends(sites: sites, settings: settings, logger: TestEnvironment.logger) }
        sites[1].backend = .process
        let backends = try SiteBackends(sites: sites, settings: settings, logger: TestEnvironment.logger)
        #expect(backends.kind == "process")
        #expect(backends.kind(forSite: "site2") == "process")
        #expect(backends.backends[.process] is ProcessBackend)
        try? FileManager.default.removeItem(atPath: work)
    }

    @Test func tenantLimitsParseAndABadOneSaysWhatIsWrong() throws {
        var configuration = SandboxConfiguration()
        try configuration.setTenantLimits(parsing: ["vod:memory=512,cpus=1.5,pids=256", "*:pids=100"])
        #expect(configuration.limits(ofTenant: "vod") == ResourceLimits(memoryBytes: 512 << 20, cpus: 1.5, pids: 256))
        #expect(configuration.limits(ofTenant: "default") == ResourceLimits(pids: 100))
        let bad = [
            ("vod", "is not TENANT:LIMITS"), (":pids=3", "is not TENANT:LIMITS"), ("vod:memory=1", "memory=1: give whole MiB, at least 8"),
            ("vod:disk=5", "unknown limit 'disk'"), ("vod:cpus=x", "cpus=x: give cores"), ("vod:", "no limit given"),
        ]
        for (entry, message) in bad {
            let error = #expect(throws: ControlError.self, "\(entry)") { try configuration.setTenantLimits(parsing: [entry]) }
            #expect(error?.message.contains(message) == true, "\(entry): \(String(describing: error))")
        }
    }

    @Test(.enabled(if: geteuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "as root, runs ecdn as user nobody with setpriv (util-linux)"))
    func withoutRootTheSandboxBackendSaysWhatToDo() async throws {
        let process = Process()
        let arguments = [
            "up", "--backend", "sandbox", "--sites", "1", "--first-site-octet", "182", "--router-port", "0", "--api-port", "0", "--origin-port", "0",
            "--minicache", Binaries.minicache,
        ]
        if geteuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid", "65534", "--regid", "65534", "--clear-groups", Binaries.ecdn] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Binaries.ecdn)
            process.arguments = arguments
        }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: await errors.fileHandleForReading.readToEndOfFile(), as: UTF8.self)
        #expect(await process.exited() == 1)
        #expect(text.contains("ecdn: error: the sandbox backend needs root (namespaces, cgroups, veth interfaces): run ecdn as root (sudo) or use --backend process"), "\(text)")
    }

    @Test func hybridHostUsesV1ControllersAndIgnoresAnEmptyV2() {
        let mountinfo = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let cgroups = "8:pids:/\n4:memory:/jobs/a\n1:cpu:/\n0::/\n"
        let layout = CgroupLayout.detect(mountinfo: mountinfo, cgroups: cgroups) { _ in ["hugetlb"] }
        #expect(layout.versionDescription == "v1")
        #expect(layout.missing.isEmpty)
        let memory = layout.hierarchies.first { $0.controllers == [.memory] }
        #expect(memory?.directory(of: memory?.ownPath ?? "") == "/sys/fs/cgroup/memory/jobs/a")
        #expect(layout.hierarchies.count == 3)
    }

    @Test func unifiedHostUsesV2AndCombinedV1MountsAreOneHierarchy() {
        let unified = CgroupLayout.detect(
            mountinfo: "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
            cgroups: "0::/user.slice/session-1.scope\n"
        ) { _ in ["cpuset", "cpu", "io", "memory", "pids"] }
        #expect(unified.versionDescription == "v2")
        #expect(unified.hierarchies.count == 1)
        #expect(unified.hierarchies.first?.controllers == [.memory, .cpu, .pids])
        #expect(unified.hierarchies.first?.directory(of: "/") == "/sys/fs/cgroup")

        let combined = CgroupLayout.detect(
            mountinfo: """
                25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
                26 24 0:23 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
                """,
            cgroups: "3:cpu,cpuacct:/\n2:memory:/docker/abc\n"
        ) { _ in [] }
        #expect(combined.missing == [.pids])
        let memory = combined.hierarchies.first { $0.controllers == [.memory] }
        #expect(memory?.directory(of: "/docker/abc") == "/sys/fs/cgroup/memory")
        #expect(memory?.directory(of: "/docker/abc/ecdn") == "/sys/fs/cgroup/memory/ecdn")
        #expect(combined.hierarchies.first { $0.controllers == [.cpu] }?.mountPoint == "/sys/fs/cgroup/cpu,cpuacct")
    }
}
