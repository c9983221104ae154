#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import CSandbox
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Runs each instance isolated, with the kernel's own interfaces (no container runtime):
///
/// - new network, PID, mount, UTS and IPC namespaces (one `clone`, vfork-style, from a C helper
///   that sets the child up between clone and execve);
/// - a read-only root holding only the executable (and, for a dynamic build, its shared
///   libraries), with the instance's own directory (volume, ready file) at `/data`;
/// - its address on its own veth: the host end has a `/32` route in the host's local routing
///   table (so the address leaves `lo`'s `127.0.0.0/8`) and never forwards, so the router,
///   the controller and viewers reach it as before while instances cannot reach each other;
/// - cgroups `BASE/TENANT/INSTANCE` with the tenant's and the instance's memory, CPU and PID
///   limits (cgroup v1 or v2, detected);
/// - no capabilities, an unprivileged user, `no_new_privs`, and a seccomp filter that allows
///   only the system calls `minicache` makes (anything else kills it).
///
/// Stopping an instance removes its interfaces, cgroups and files; its namespaces and mounts go
/// with its last process. With ``ProcessBackendConfiguration/detached`` (site agents) instances
/// outlive the backend and the next one on the same work folder adopts them (``adopt()``).
/// Needs root.
public final class SandboxBackend: SiteBackend {
    public let configuration: SandboxConfiguration
    /// The settings every backend shares (executable, work directory, volumes, arguments).
    public let instances: ProcessBackendConfiguration
    public var kind: String { "sandbox" }
    /// Where the memory, CPU and PID controllers were found.
    public let cgroupLayout: CgroupLayout
    /// Whether instances' mounts are copied from a template mount namespace (``SandboxConfiguration/mountTemplate``, when the kernel allows).
    public var usesMountTemplate: Bool { mountTemplate >= 0 }
    /// Whether the executable is static (otherwise its shared libraries are in the root too).
    public var executableIsStatic: Bool { root.isStatic }

    private let logger: Logger
    let root: SandboxRoot
    let cgroups: CgroupTree
    private let volumes: VolumePool
    /// Network namespaces made ahead of need.
    private let networks: NetworkPool
    /// How long each step of recent starts took (``startProfile()``).
    private let profile = Mutex<[SpawnSteps]>([])
    /// Clones happen on these threads (``SandboxConfiguration/spawnThreads``), which live as long
    /// as the backend: an instance's death signal follows the thread that cloned it. A spawn
    /// mostly waits on the kernel (moving into cgroups waits for an RCU grace period; netlink
    /// round trips) or for a core, so several threads overlap those waits.
    private let spawner: MultiThreadedEventLoopGroup
    private let hostNetns: Int32
    private let nullFD: Int32
    /// The mount namespace every instance's mounts are copied from (``SandboxConfiguration/mountTemplate``), or -1.
    private let mountTemplate: Int32
    /// Starts in flight and when the last one ended: the network pool's filler waits for a pause.
    private let activity = StartActivity()
    private let hostSource: UInt32
    private let children = Mutex<[String: Instance]>([:])
    /// Numbers interfaces (and MAC addresses) uniquely across all backends of this process.
    private static let serial = Atomic<UInt32>(0)

    struct Instance: Sendable {
        var process: SandboxedProcess
        var directory: String
        var readyFile: String
        var logFile: String
        var interface: String?
        var group: CgroupTree.Group
        var ready: Bool
        var exitReason: String?
    }

    /// Why the sandbox backend cannot run here, or nil when it can (tests skip with this reason).
    public static var unavailableReason: String? {
        if geteuid() != 0 { return "the sandbox backend needs root (namespaces, cgroups, veth interfaces)" }
        if access("/proc/self/ns/net", F_OK) != 0 || access("/proc/self/ns/pid", F_OK) != 0 {
            return "this kernel has no network or PID namespaces"
        }
        if access("/proc/sys/kernel/seccomp/actions_avail", F_OK) != 0 { return "this kernel has no seccomp filters" }
        return nil
    }

    /// Prepares the root, the cgroup base and spare volumes.
    /// - Throws: ``ControlError`` `badConfiguration` when this host cannot run sandboxes (the
    ///   message says what is missing).
    public init(configuration: SandboxConfiguration, instances: ProcessBackendConfiguration, logger: Logger) throws(ControlError) {
        if let reason = Self.unavailableReason {
            throw ControlError(.badConfiguration, "\(reason): run ecdn as root (sudo) or use --backend process")
        }
        guard let source = PrefixTable.parseIPv4(configuration.hostSource[...]) else {
            throw ControlError(.badConfiguration, "sandbox host source '\(configuration.hostSource)' is not an IPv4 address")
        }
        self.configuration = configuration
        self.instances = instances
        self.logger = logger
        self.hostSource = source.bigEndian
        try ProcessBackend.makeDirectory(instances.workDirectory)
        root = try SandboxRoot.prepare(executable: instances.minicachePath, in: instances.workDirectory, lasting: instances.detached)
        cgroupLayout = CgroupLayout.detect(
            mountinfo: HostFile.read("/proc/self/mountinfo") ?? "", cgroups: HostFile.read("/proc/self/cgroup") ?? "",
            v2Controllers: { HostFile.read($0 + "/cgroup.controllers")?.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? [] }
        )
        cgroups = try CgroupTree(
            layout: cgroupLayout, parent: configuration.cgroupParent,
            name: instances.detached ? Self.lastingName(instances.workDirectory) : CgroupTree.processName()
        )
        hostNetns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        volumes = VolumePool(directory: instances.workDirectory, volumeSize: instances.volumeSize, spares: instances.spareVolumes, logger: logger)
        mountTemplate = configuration.mountTemplate ? Self.makeMountTemplate(root: root.path, logger: logger) : -1
        spawner = MultiThreadedEventLoopGroup(numberOfThreads: configuration.spawnThreads)
        networks = NetworkPool(size: configuration.preparedNetworks, activity: activity, logger: logger) { Self.nextInterface() }
        InstanceLink.removeLeftovers(prefix: Self.interfacePrefix, logger: logger)
        if !cgroupLayout.missing.isEmpty {
            logger.warning("cgroup controllers missing: their limits are not enforced", metadata: ["missing": "\(cgroupLayout.missing.map(\.rawValue))"])
        }
        logger.info("sandbox backend ready", metadata: [
            "root": "\(root.path)", "static": "\(root.isStatic)", "libraries": "\(root.libraries.count)",
            "cgroup": "\(cgroupLayout.versionDescription)", "mount.template": "\(mountTemplate >= 0)",
        ])
    }

    deinit {
        spawner.shutdownGracefully { _ in }
        close(hostNetns)
        close(nullFD)
        if mountTemplate >= 0 { close(mountTemplate) }
        if !instances.detached {
            cgroups.removeAllBlocking()
            root.remove()
        }
    }

    /// The start of the names of the host ends of instances' veths.
    static let interfacePrefix = "mc"

    /// The template mount namespace of `root` (``csandbox_mount_template``), or -1 with a warning
    /// (instances then pivot into the root one by one, as without a template).
    static func makeMountTemplate(root: String, logger: Logger) -> Int32 {
        var fd: Int32 = -1
        var step: UnsafePointer<CChar>?
        let r = csandbox_mount_template(root, &fd, &step)
        guard r == 0 else {
            logger.warning("cannot make the sandbox mount template; each instance pivots into the root itself", metadata: [
                "step": "\(step.map { String(cString: $0) } ?? "mount template")", "errno": "\(-r)", "error": "\(HostFile.describe(-r))",
            ])
            return -1
        }
        return fd
    }

    /// The next interface name no interface on the host has (adopted instances' may have been
    /// named by an owner with this process id), and its number.
    static func nextInterface() -> (number: UInt32, interface: String) {
        var number: UInt32
        var interface: String
        repeat {
            number = serial.wrappingAdd(1, ordering: .relaxed).newValue
            interface = InstanceLink.interfaceName(prefix: interfacePrefix, number: number)
        } while access("/sys/class/net/" + interface, F_OK) == 0
        return (number, interface)
    }

    /// The cgroup base of detached instances: the same for every backend on this work folder.
    static func lastingName(_ workDirectory: String) -> String {
        var key: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in workDirectory.utf8 { key = (key ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return "ecdn-sandbox-" + String(key, radix: 16)
    }

    // MARK: SiteBackend

    public func launch(_ spec: InstanceSpec) async throws(ControlError) {
        // The certificate of an HTTPS instance and the origin's CA are copied into its /data,
        // readable by its user alone: the root holds nothing of a tenant's.
        var files: [String: String] = [:]
        var inside = instances
        if spec.tls, let tls = instances.tls {
            files["tls.pem"] = tls.certificate
            files["tls-key.pem"] = tls.key
            inside.tls = TLSFiles(certificate: "/data/tls.pem", key: "/data/tls-key.pem", ca: tls.ca)
        }
        if let ca = instances.originCA {
            files["origin-ca.pem"] = ca
            inside.originCA = "/data/origin-ca.pem"
        }
        // The admin token too: the root is shared, /data is the instance's own.
        if let token = instances.adminTokenFile { files["admin.token"] = token }
        var arguments = try [root.executable, "serve", "/data/volume.shfs"] + ProcessBackend.listenArguments(spec, configuration: inside) + [
            "--admin", "\(spec.address):\(spec.adminPort)", "--ready-file", "/data/ready", "--origin", spec.origin,
        ] + (instances.adminTokenFile == nil ? [] : ["--admin-token-file", "/data/admin.token"]) + instances.extraArguments
        // The object cache stays well inside the memory limit, so a busy cache is not OOM-killed.
        if let memory = configuration.instanceLimits.memoryBytes, !instances.extraArguments.contains("--memory-budget") {
            arguments += ["--memory-budget", "\(memory / 2)"]
        }
        let instance = try await start(spec, arguments: arguments, volume: true, files: files, seccomp: configuration.seccomp)
        if instances.detached {
            let base = instances.workDirectory + "/" + CgroupTree.safeName(spec.id)
            HostFile.write(base + ".spec", InstanceSpecFile(spec: spec).line, create: true)
            HostFile.write(base + ".pid", "\(instance.process.pid) \(instance.interface ?? "-")\n", create: true)
        }
        children.withLock { $0[spec.id] = instance }
    }

    public func adopt() async -> [AdoptedInstance] {
        guard instances.detached else { return [] }
        let names = HostFile.names(in: instances.workDirectory).filter { $0.hasSuffix(".spec") }.map { String($0.dropLast(5)) }
        var found: [AdoptedInstance] = []
        for name in names.sorted() {
            let base = "\(instances.workDirectory)/\(name)"
            guard let spec = HostFile.read(base + ".spec").flatMap(InstanceSpecFile.init(line:))?.spec else {
                for suffix in [".spec", ".pid"] { unlink(base + suffix) }
                continue
            }
            let fields = (HostFile.read(base + ".pid") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
            let interface = fields.count > 1 && fields[1] != "-" ? String(fields[1]) : nil
            let group = cgroups.adoptGroup(tenant: spec.tenant, id: name)
            // The pid must still be this instance's first process (pids are reused): it is in its cgroup.
            if let pid = fields.first.flatMap({ Int32($0) }), let group, cgroups.holds(pid, group), let process = SandboxedProcess.adopt(pid: pid) {
                let ready = access(base + "/ready", F_OK) == 0
                children.withLock {
                    $0[spec.id] = Instance(
                        process: process, directory: base, readyFile: base + "/ready", logFile: base + ".log", interface: interface,
                        group: group, ready: ready, exitReason: nil
                    )
                }
                found.append(AdoptedInstance(spec: spec, probe: ready ? .ready : .booting))
                logger.info("sandbox adopted", metadata: ["instance.id": "\(spec.id)", "pid": "\(pid)"])
            } else {
                let oom = group.map { cgroups.oomKills($0) > 0 } ?? false
                await removeLeftovers(interface: interface, group: group, directory: base, logFile: base + ".log")
                found.append(AdoptedInstance(spec: spec, probe: .exited(oom ? "killed by the kernel: out of memory, while its agent was away" : "ended while its agent was away")))
            }
        }
        return found
    }

    public func signalsReady(_ id: String) -> Bool {
        ReadySignal.shared != nil && children.withLock { $0[id] != nil }
    }

    public func awaitReady(_ id: String, upTo seconds: Double) async {
        await ReadySignal.wait(for: children.withLock { $0[id]?.readyFile }, upTo: seconds)
    }

    public func probe(_ id: String) -> InstanceProbe {
        guard let instance = children.withLock({ $0[id] }) else { return .exited("unknown instance") }
        if let reason = exitReason(id, instance) { return .exited(reason) }
        if instance.ready { return .ready }
        guard access(instance.readyFile, F_OK) == 0 else { return .booting }
        children.withLock { $0[id]?.ready = true }
        return .ready
    }

    @discardableResult
    public func terminate(_ id: String, grace: Double) async -> String {
        guard let instance = children.withLock({ $0[id] }) else { return "unknown instance" }
        let exit = await instance.process.stop(grace: grace)
        let how = exitReason(id, instance) ?? exit.description
        children.withLock { $0[id] = nil }
        await cleanUp(instance)
        return how
    }

    public func kill(_ id: String) {
        children.withLock { $0[id] }?.process.signal(SIGKILL)
    }

    public func terminateAll(grace: Double) async {
        await terminateEach(children.withLock { Array($0.keys) }, grace: grace)
        networks.drain()
        volumes.removeSpares()
        await cgroups.removeAll()
    }

    public func pid(of id: String) -> Int32? {
        children.withLock { $0[id]?.process.pid }
    }

    // MARK: Inspection (tests, API)

    /// The host end of an instance's veth.
    public func interfaceName(of id: String) -> String? { children.withLock { $0[id]?.interface } }

    /// The host ends of the prepared network namespaces no instance uses yet.
    public var idleNetworkInterfaces: [String] { networks.idleInterfaces }

    /// An instance's directory on the host (its `/data`).
    public func directory(of id: String) -> String? { children.withLock { $0[id]?.directory } }

    /// An instance's cgroup directories.
    public func cgroupDirectories(of id: String) -> [String] { children.withLock { $0[id]?.group.directories ?? [] } }

    /// The path of an instance's log file.
    public func logPath(of id: String) -> String { "\(instances.workDirectory)/\(CgroupTree.safeName(id)).log" }

    // MARK: Starting

    /// Starts `arguments` (argv[0] inside the root) in a new sandbox with `spec`'s address and
    /// tenant; with `volume`, a fresh volume is put in its `/data`, and so are copies of `files`
    /// (name in `/data` -> host path), readable by the instance's user only.
    func start(_ spec: InstanceSpec, arguments: [String], volume: Bool, files: [String: String] = [:], seccomp: Bool) async throws(ControlError) -> Instance {
        activity.begin()
        defer { activity.end() }
        let name = CgroupTree.safeName(spec.id)
        let directory = "\(instances.workDirectory)/\(name)"
        let logFile = "\(instances.workDirectory)/\(name).log"
        removeDirectory(directory)
        guard mkdir(directory, 0o700) == 0 else {
            throw ControlError(.spawnFailed, "cannot create \(directory): \(HostFile.describe(errno))")
        }
        let t0 = HTTPDate.monotonic()
        var group: CgroupTree.Group?
        do throws(ControlError) {
            if volume { try volumes.take(to: directory + "/volume.shfs") }
            for (name, source) in files.sorted(by: { $0.key < $1.key }) {
                guard let text = HostFile.read(source), HostFile.write(directory + "/" + name, text, create: true) == 0, chmod(directory + "/" + name, 0o400) == 0 else {
                    throw ControlError(.spawnFailed, "cannot copy \(source) into the instance's /data: \(HostFile.describe(errno))")
                }
            }
            for path in [directory, directory + "/volume.shfs"] + files.keys.map({ directory + "/" + $0 }) where access(path, F_OK) == 0 {
                _ = chown(path, configuration.uid, configuration.gid)
            }
            guard let address = PrefixTable.parseIPv4(spec.address[...]) else {
                throw ControlError(.spawnFailed, "instance address '\(spec.address)' is not IPv4")
            }
            let made = try cgroups.makeGroup(
                tenant: spec.tenant, id: name, tenantLimits: configuration.limits(ofTenant: spec.tenant), instanceLimits: configuration.instanceLimits
            )
            group = made
            let t1 = HTTPDate.monotonic()
            // A namespace made ahead, or a name for the one the clone makes.
            let prepared = networks.take()
            let (number, interface) = prepared.map { ($0.number, $0.interface) } ?? Self.nextInterface()
            let request = SpawnRequest(
                root: root.path, data: directory, arguments: arguments, hostname: name, cgroupFDs: try cgroups.joinDescriptors(made),
                logFile: logFile, address: address.bigEndian, interface: interface, number: number, network: prepared?.network, seccomp: seccomp
            )
            let result: Result<(SandboxedProcess, SpawnSteps), ControlError>
            do {
                result = try await spawner.next().submit { self.spawn(request) }.get()
            } catch {
                throw ControlError(.spawnFailed, "the spawner thread is gone: \(error)", underlying: error)
            }
            let (process, steps) = try result.get()
            var metadata: Logger.Metadata = [
                "instance.id": "\(spec.id)", "pid": "\(process.pid)", "pooled": "\(prepared != nil)",
                "prepare.ms": "\(ProcessBackend.milliseconds(t1 - t0))", "spawn.ms": "\(ProcessBackend.milliseconds(HTTPDate.monotonic() - t1))",
            ]
            for (step, seconds) in zip(SpawnSteps.names, steps.seconds) { metadata[step + ".ms"] = "\(ProcessBackend.milliseconds(seconds))" }
            logger.info("sandbox launched", metadata: metadata)
            profile.withLock { $0.append(steps) }
            return Instance(
                process: process, directory: directory, readyFile: directory + "/ready", logFile: logFile, interface: interface,
                group: made, ready: false, exitReason: nil
            )
        } catch {
            if let group { await cgroups.remove(group) }
            removeDirectory(directory)
            unlink(logFile)
            throw error
        }
    }

    private struct SpawnRequest: Sendable {
        var root: String
        var data: String
        var arguments: [String]
        var hostname: String
        var cgroupFDs: [Int32]
        var logFile: String
        var address: UInt32
        var interface: String
        var number: UInt32
        /// A namespace made ahead (its fds are closed after the spawn), or nil: the clone makes one.
        var network: csandbox_network?
        var seccomp: Bool
    }

    /// On the spawner thread: the C helper clones, sets up and execs the child.
    private func spawn(_ request: SpawnRequest) -> Result<(SandboxedProcess, SpawnSteps), ControlError> {
        defer { for fd in request.cgroupFDs { close(fd) } }
        let t0 = HTTPDate.monotonic()
        let network = request.network
        defer { if var network { csandbox_network_close(&network) } }
        let (hostMAC, instanceMAC) = NetworkPool.macs(request.number)
        if let prepared = network {
            var mac = instanceMAC
            var step: UnsafePointer<CChar>?
            let r = withUnsafePointer(to: &mac) { $0.withMemoryRebound(to: UInt8.self, capacity: 6) { csandbox_network_assign([prepared], request.address, $0, hostSource, &step) } }
            if r < 0 {
                _ = csandbox_delete_link(request.interface)
                let what = step.map { String(cString: $0) } ?? "assign the address"
                return .failure(ControlError(.spawnFailed, "sandbox: \(what): \(HostFile.describe(-r)) (errno \(-r))"))
            }
        }
        let assigned = HTTPDate.monotonic() - t0
        let logFD = open(request.logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { return .failure(ControlError(.spawnFailed, "cannot open the log file \(request.logFile): \(HostFile.describe(errno))")) }
        defer { close(logFD) }
        let argv: [UnsafeMutablePointer<CChar>?] = request.arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/"), nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var spec = csandbox_spec()
        spec.cgroup_fd_count = Int32(request.cgroupFDs.count)
        spec.stdin_fd = nullFD
        spec.log_fd = logFD
        spec.host_netns_fd = hostNetns
        spec.netns_fd = network?.netns_fd ?? -1
        spec.address = request.address
        spec.host_source = hostSource
        spec.host_mac = hostMAC
        spec.instance_mac = instanceMAC
        spec.uid = configuration.uid
        spec.gid = configuration.gid
        spec.seccomp = request.seccomp ? 1 : 0
        spec.mount_proc = configuration.mountProc ? 1 : 0
        spec.die_with_parent = instances.detached ? 0 : 1
        spec.mount_template_fd = mountTemplate
        var pidfd: Int32 = -1
        var failure = csandbox_error()
        var timing = csandbox_timing()
        let pid = request.root.withCString { rootPath in
            request.data.withCString { dataPath in
                request.hostname.withCString { hostname in
                    request.interface.withCString { interface in
                        request.cgroupFDs.withUnsafeBufferPointer { fds in
                            argv.withUnsafeBufferPointer { argvBuffer in
                                envp.withUnsafeBufferPointer { envpBuffer in
                                    spec.root = rootPath
                                    spec.data = dataPath
                                    spec.hostname = hostname
                                    spec.host_ifname = interface
                                    spec.cgroup_fds = fds.baseAddress
                                    spec.argv = argvBuffer.baseAddress
                                    spec.envp = envpBuffer.baseAddress
                                    return csandbox_spawn(&spec, &pidfd, &failure, &timing)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard pid > 0 else {
            if network != nil { _ = csandbox_delete_link(request.interface) }
            let step = failure.step.map { String(cString: $0) } ?? "spawn"
            return .failure(ControlError(.spawnFailed, "sandbox: \(step): \(HostFile.describe(failure.error)) (errno \(failure.error))"))
        }
        return .success((SandboxedProcess(pid: pid, pidfd: pidfd), SpawnSteps(assigned: assigned, timing: timing)))
    }

    /// Median milliseconds of each step of this backend's starts so far (clone -> execve), by
    /// step: where a sandbox's start-up goes (`ecdn density` prints it).
    public func startProfile() -> [(step: String, milliseconds: Double)] {
        let all = profile.withLock { $0 }
        guard !all.isEmpty else { return [] }
        return SpawnSteps.names.indices.map { i in
            let values = all.map { $0.seconds[i] * 1000 }.sorted()
            return (SpawnSteps.names[i], values[values.count / 2])
        }
    }

    // MARK: Ending

    /// How an instance ended, in the kernel's terms (OOM kill, seccomp kill), once it has.
    private func exitReason(_ id: String, _ instance: Instance) -> String? {
        if let reason = instance.exitReason { return reason }
        guard let exit = instance.process.poll() else { return nil }
        let reason = describe(exit, instance)
        children.withLock { $0[id]?.exitReason = reason }
        return reason
    }

    private func describe(_ exit: ChildProcess.Exit, _ instance: Instance) -> String {
        switch exit {
        case .signalled(SIGKILL) where cgroups.oomKills(instance.group) > 0:
            return "killed by the kernel: out of memory" + memoryLimits(instance.group)
        case .signalled(SIGSYS) where configuration.seccomp:
            return "killed by signal \(SIGSYS) (SIGSYS): a system call outside the seccomp allow-list"
        case .exited(-1) where instance.process.adopted:
            return cgroups.oomKills(instance.group) > 0
                ? "killed by the kernel: out of memory" + memoryLimits(instance.group) : "ended (adopted: its exit status went to its first owner)"
        default:
            return exit.description
        }
    }

    /// ` (memory limit 40 MiB; tenant t 24 MiB)`: the limits an out-of-memory kill can come from.
    private func memoryLimits(_ group: CgroupTree.Group) -> String {
        var limits: [String] = []
        if let bytes = configuration.instanceLimits.memoryBytes { limits.append("memory limit \(bytes >> 20) MiB") }
        let tenant = configuration.tenantLimits.first { CgroupTree.safeName($0.key) == group.tenant }?.value ?? configuration.defaultTenantLimits
        if let bytes = tenant.memoryBytes { limits.append("tenant \(group.tenant) \(bytes >> 20) MiB") }
        return limits.isEmpty ? "" : " (" + limits.joined(separator: "; ") + ")"
    }

    /// Runs `arguments` (the executable of this backend's root, then its arguments) once in a
    /// sandbox of `spec`'s tenant and address, without a volume, and returns how it ended and
    /// what it printed; everything it used is removed. For one-off checks from inside a
    /// tenant's sandbox (the isolation tests).
    func run(_ spec: InstanceSpec, arguments: [String], seccomp: Bool, timeout: Double = 10) async throws(ControlError) -> (exit: String, output: String) {
        let instance = try await start(spec, arguments: [root.executable] + arguments, volume: false, seccomp: seccomp)
        let deadline = HTTPDate.monotonic() + timeout
        var exit = instance.process.poll()
        while exit == nil {
            if HTTPDate.monotonic() > deadline { instance.process.signal(SIGKILL) }
            try? await Task.sleep(for: .milliseconds(5))
            exit = instance.process.poll()
        }
        let reason = describe(exit ?? .exited(-1), instance)
        let output = HostFile.read(instance.logFile) ?? ""
        await cleanUp(instance)
        unlink(instance.logFile)
        return (reason, output)
    }

    private func cleanUp(_ instance: Instance) async {
        await removeLeftovers(interface: instance.interface, group: instance.group, directory: instance.directory, logFile: instance.logFile)
    }

    /// Frees what an ended instance used: its veth (both ends and the host's route go with it),
    /// its cgroups, its pid and spec files and, unless kept, its directory and log.
    private func removeLeftovers(interface: String?, group: CgroupTree.Group?, directory: String, logFile: String) async {
        if let interface {
            let r = csandbox_delete_link(interface)
            if r < 0, r != -ENODEV {
                logger.warning("cannot delete an instance's interface", metadata: ["interface": "\(interface)", "errno": "\(-r)"])
            }
        }
        if let group { await cgroups.remove(group) }
        unlink(directory + ".spec")
        unlink(directory + ".pid")
        if !instances.keepFiles {
            removeDirectory(directory)
            unlink(logFile)
        }
    }

    /// Removes an instance directory: its volume, ready file and anything the instance wrote.
    private func removeDirectory(_ directory: String) {
        for name in HostFile.names(in: directory) { unlink(directory + "/" + name) }
        rmdir(directory)
    }
}
