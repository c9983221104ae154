#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import Foundation
import HTTPToolkit
import Logging
import NIOPosix
import Synchronization

/// Runs each instance as an OCI container with the host's runtime (`runc`), from the root of an
/// image `ecdn image oci` wrote:
///
/// - one runtime bundle per instance (`WORK/ID/config.json`): the image's `rootfs` read-only,
///   the instance's `data/` folder (fresh volume, ready file) at `/data`, new PID, IPC, UTS and
///   mount namespaces, no capabilities, `no_new_privs`, user nobody, the sandbox's seccomp
///   allow-list, cgroup limits on memory, CPU and tasks;
/// - a network namespace made beforehand with the instance's site address on a veth
///   (``InstanceLink``, wired as a sandbox's), which the container joins: the router, the
///   controller and viewers reach it as a process;
/// - `runc run --detach`; the container's first process is then held by a pidfd, and reaped by
///   this process (a child subreaper) for its exit status.
///
/// Ready = its ready file appears. Stopping removes the container, its cgroups, its namespace
/// and veth, and its files. Needs root.
public final class OCIBackend: SiteBackend {
    public let configuration: OCIConfiguration
    /// The settings every backend shares (executable, work directory, volumes, arguments).
    public let instances: ProcessBackendConfiguration
    public let image: OCIImage
    package let runtime: OCIRuntime
    public var kind: String { "oci" }

    private let logger: Logger
    private let volumes: VolumePool
    private let allowedSyscalls: [String]?
    /// Runs the blocking work of starts and stops (namespaces, the runtime), several at once.
    private let blocking: NIOThreadPool
    private let containers = Mutex<[String: Container]>([:])
    private static let serial = Atomic<UInt32>(0)

    struct Container: Sendable {
        var name: String
        var directory: String
        var logFile: String
        var namespace: String
        var link: InstanceLink
        var process: SandboxedProcess
        var ready: Bool
    }

    /// What the runtime's own init (Go, in runc) calls after it loaded the filter and before it
    /// execs `minicache`: it checks `/proc/self/fd` is on procfs, marks inherited descriptors
    /// close-on-exec, and its scheduler and signals keep running (found with `strace -f` on
    /// runc 1.1). Without `fstatfs` it fails with "ensure /proc/self/fd is on procfs".
    static let runtimeSyscalls = [
        "capget", "capset", "clone", "clone3", "close", "epoll_ctl", "epoll_pwait", "execve", "exit", "exit_group", "fcntl", "fstat",
        "fstatfs", "futex", "getdents64", "getpid", "gettid", "madvise", "mmap", "mprotect", "munmap", "nanosleep", "newfstatat",
        "openat", "prctl", "read", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_yield", "sigaltstack", "tgkill", "write",
    ]

    /// Why the backend cannot run here, or nil when it can (tests skip with this reason).
    public static func unavailableReason(runtime: String = "runc") -> String? {
        if geteuid() != 0 { return "the oci backend needs root (network namespaces, veth interfaces, the runtime's cgroups)" }
        if ImageTools.find(runtime) == nil && !runtime.contains("/") { return "no OCI runtime `\(runtime)` (apt-get install runc)" }
        return nil
    }

    /// The start of the names of the host ends of instances' links.
    static let interfacePrefix = "mo"

    /// Finds the runtime, and opens the image (or writes one from the shared executable).
    /// - Throws: ``ControlError`` `badConfiguration` when this host cannot run containers (the
    ///   message says what is missing), or `imageFailed`.
    public init(configuration: OCIConfiguration, instances: ProcessBackendConfiguration, logger: Logger) throws(ControlError) {
        if geteuid() != 0 {
            throw ControlError(.badConfiguration, "the oci backend needs root (network namespaces, veth interfaces, cgroups): run ecdn as root or use --backend process")
        }
        self.configuration = configuration
        self.instances = instances
        self.logger = logger
        try ProcessBackend.makeDirectory(instances.workDirectory + "/netns")
        runtime = try OCIRuntime(configuration.runtime, root: instances.workDirectory + "/runtime")
        if let path = configuration.image {
            image = try OCIImage.open(path)
        } else {
            image = try OCIImage.build(OCIImage.BuildOptions(minicache: instances.minicachePath, compress: false), into: instances.workDirectory + "/image")
        }
        allowedSyscalls = configuration.seccomp
            ? Set((0..<csandbox_allowed_syscall_count()).map { String(cString: csandbox_allowed_syscall_name($0)) } + Self.runtimeSyscalls).sorted() : nil
        let subreaper = csandbox_become_subreaper()
        if subreaper != 0 {
            logger.warning("cannot become a child subreaper: exit statuses of containers are unknown", metadata: ["errno": "\(-subreaper)"])
        }
        InstanceLink.removeLeftovers(prefix: Self.interfacePrefix, logger: logger)
        volumes = VolumePool(directory: instances.workDirectory, volumeSize: instances.volumeSize, spares: instances.spareVolumes, logger: logger)
        blocking = NIOThreadPool(numberOfThreads: 4)
        blocking.start()
        logger.info("oci backend ready", metadata: [
            "runtime": "\(runtime.version)", "image": "\(image.directory)", "manifest": "\(image.manifestDigest)", "static": "\(image.isStatic)",
        ])
    }

    deinit {
        blocking.shutdownGracefully { _ in }
    }

    // MARK: SiteBackend

    public func launch(_ spec: InstanceSpec) async throws(ControlError) {
        guard !spec.tls else {
            throw ControlError(.badConfiguration, "instance \(spec.id): the oci backend serves plain HTTP only; HTTPS caches run on the process backend")
        }
        let name = CgroupTree.safeName(spec.id)
        let directory = "\(instances.workDirectory)/\(name)"
        let logFile = directory + ".log"
        let namespace = "\(instances.workDirectory)/netns/\(name)"
        let link = InstanceLink(
            address: spec.address, prefix: Self.interfacePrefix, kind: 0x10, number: Self.serial.wrappingAdd(1, ordering: .relaxed).newValue,
            hostSource: configuration.hostSource
        )
        var arguments = [
            "/minicache", "serve", "/data/volume.shfs", "--listen", "\(spec.address):\(spec.port)",
            "--admin", "\(spec.address):\(spec.adminPort)", "--origin", spec.origin, "--ready-file", "/data/ready",
        ] + (instances.adminTokenFile == nil ? [] : ["--admin-token-file", "/data/admin.token"]) + instances.extraArguments
        let limits = configuration.instanceLimits
        if let memory = limits.memoryBytes, !instances.extraArguments.contains("--memory-budget") {
            // The object cache stays well inside the memory limit, so a busy cache is not OOM-killed.
            arguments += ["--memory-budget", "\(memory / 2)"]
        }
        var options = OCIRuntimeSpec.Options(arguments: arguments)
        options.rootPath = image.rootfs
        options.dataDirectory = directory + "/data"
        options.network = .join(namespace)
        options.hostname = name
        options.uid = configuration.uid
        options.gid = configuration.gid
        options.cgroupsPath = "ecdn-oci/\(name)"
        options.memoryBytes = limits.memoryBytes
        options.cpus = limits.cpus
        options.pids = limits.pids
        options.hostFiles = ["/etc/hosts", "/etc/resolv.conf"].filter { access($0, R_OK) == 0 }
        options.allowedSyscalls = allowedSyscalls
        let bundle = OCIRuntimeSpec(options)
        let (volumes, runtime, uid, gid, token) = (volumes, runtime, configuration.uid, configuration.gid, instances.adminTokenFile)
        let t0 = HTTPDate.monotonic()
        let started: Result<Int32, ControlError>
        do {
            started = try await blocking.runIfActive { () -> Result<Int32, ControlError> in
                do throws(ControlError) {
                    try Self.removeTree(directory)
                    guard mkdir(directory, 0o700) == 0, mkdir(directory + "/data", 0o700) == 0 else {
                        throw ControlError(.spawnFailed, "cannot create \(directory): \(HostFile.describe(errno))")
                    }
                    try volumes.take(to: directory + "/data/volume.shfs")
                    _ = chown(directory + "/data", uid, gid)
                    _ = chown(directory + "/data/volume.shfs", uid, gid)
                    // The admin token, in the container's own /data, readable by its user alone.
                    if let token {
                        let copy = directory + "/data/admin.token"
                        guard let text = HostFile.read(token), HostFile.write(copy, text, create: true) == 0, chmod(copy, 0o400) == 0,
                            chown(copy, uid, gid) == 0
                        else {
                            throw ControlError(.spawnFailed, "cannot copy the admin token file \(token) into the container's /data: \(HostFile.describe(errno))")
                        }
                    }
                    try link.makeNamespace(at: namespace)
                    try OCIImage.writeJSON(bundle, to: directory + "/config.json")
                    // What a restarted owner needs to adopt the container (``adopt()``).
                    HostFile.write(directory + "/instance.spec", InstanceSpecFile(spec: spec).line, create: true)
                    HostFile.write(directory + "/link", link.hostInterface + "\n", create: true)
                    return .success(try runtime.run(id: name, bundle: directory, log: logFile))
                } catch {
                    _ = try? runtime.delete(id: name)
                    link.removeHostInterface()
                    InstanceLink.removeNamespace(at: namespace)
                    try? Self.removeTree(directory)
                    return .failure(error)
                }
            }
        } catch {
            throw ControlError(.spawnFailed, "the oci backend is shutting down: \(error)", underlying: error)
        }
        let pid = try started.get()
        let pidfd = csandbox_pidfd_open(pid)
        let container = Container(
            name: name, directory: directory, logFile: logFile, namespace: namespace, link: link,
            process: SandboxedProcess(pid: pid, pidfd: pidfd), ready: false
        )
        guard pidfd >= 0 else {
            await cleanUp(container)
            throw ControlError(.spawnFailed, "\(runtime.name) started \(name) but its process \(pid) is already gone: \(OCIRuntime.tail(of: logFile, from: 0) ?? "no output")")
        }
        logger.info("container started", metadata: [
            "instance.id": "\(spec.id)", "pid": "\(pid)", "start.ms": "\(ProcessBackend.milliseconds(HTTPDate.monotonic() - t0))",
        ])
        containers.withLock { $0[spec.id] = container }
    }

    public func probe(_ id: String) -> InstanceProbe {
        guard let container = containers.withLock({ $0[id] }) else { return .exited("unknown instance") }
        if let exit = container.process.poll() {
            guard case .exited(let status) = exit, status > 0 else { return .exited(Self.describe(exit)) }
            // The container's last words (minicache's error, or the runtime's) say why it failed.
            let said = OCIRuntime.tail(of: container.logFile, from: 0)?.split(separator: "\n").last.map { ": \($0)" } ?? ""
            return .exited(Self.describe(exit) + said)
        }
        if container.ready { return .ready }
        guard access(container.directory + "/data/ready", F_OK) == 0 else { return .booting }
        containers.withLock { $0[id]?.ready = true }
        return .ready
    }

    @discardableResult
    public func terminate(_ id: String, grace: Double) async -> String {
        guard let container = containers.withLock({ $0.removeValue(forKey: id) }) else { return "unknown instance" }
        let exit = await container.process.stop(grace: grace)
        await cleanUp(container)
        return Self.describe(exit)
    }

    public func kill(_ id: String) {
        containers.withLock { $0[id] }?.process.signal(SIGKILL)
    }

    public func terminateAll(grace: Double) async {
        await terminateEach(containers.withLock { Array($0.keys) }, grace: grace)
        volumes.removeSpares()
    }

    /// The host process id of an instance's container (its `minicache`).
    public func pid(of id: String) -> Int32? { containers.withLock { $0[id]?.process.pid } }

    /// Containers an earlier owner of this work folder started (containers outlive their owner:
    /// the runtime is not their parent): each one the runtime says runs is attached again through
    /// its pid; each one that ended is deleted with its namespace, link and files.
    public func adopt() async -> [AdoptedInstance] {
        let work = instances.workDirectory
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter {
            access("\(work)/\($0)/instance.spec", R_OK) == 0
        }
        var found: [AdoptedInstance] = []
        for name in names.sorted() {
            let directory = "\(work)/\(name)"
            guard let spec = HostFile.read(directory + "/instance.spec").flatMap(InstanceSpecFile.init(line:))?.spec else { continue }
            let interface = (HostFile.read(directory + "/link") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let runtime = runtime
            let state: OCIRuntime.State? = try? await blocking.runIfActive { runtime.state(id: name) }
            let pidfd = state.map { $0.status == "running" && $0.pid > 0 ? csandbox_pidfd_open($0.pid) : -1 } ?? -1
            let container = Container(
                name: name, directory: directory, logFile: directory + ".log", namespace: "\(work)/netns/\(name)",
                link: InstanceLink(adoptedHostInterface: interface, address: spec.address, hostSource: configuration.hostSource),
                process: SandboxedProcess(pid: state?.pid ?? -1, pidfd: pidfd), ready: access(directory + "/data/ready", F_OK) == 0
            )
            guard pidfd >= 0 else {
                await cleanUp(container)
                found.append(AdoptedInstance(spec: spec, probe: .exited("ended while its owner was away (\(state?.status ?? "no container"))")))
                continue
            }
            containers.withLock { $0[spec.id] = container }
            found.append(AdoptedInstance(spec: spec, probe: container.ready ? .ready : .booting))
            logger.info("container adopted", metadata: ["instance.id": "\(spec.id)", "pid": "\(container.process.pid)"])
        }
        return found
    }

    // MARK: Inspection (tests, API)

    /// The container id the runtime knows an instance by.
    public func containerID(of id: String) -> String? { containers.withLock { $0[id]?.name } }

    /// The host end of an instance's veth, and the path its network namespace is bound at.
    public func network(of id: String) -> (interface: String, namespace: String)? {
        containers.withLock { $0[id].map { ($0.link.hostInterface, $0.namespace) } }
    }

    /// The path of an instance's log (the container's output and the runtime's messages).
    public func logPath(of id: String) -> String { "\(instances.workDirectory)/\(CgroupTree.safeName(id)).log" }

    // MARK: Helpers

    private func cleanUp(_ container: Container) async {
        let (runtime, keep, logger) = (runtime, instances.keepFiles, logger)
        _ = try? await blocking.runIfActive {
            do throws(ControlError) {
                try runtime.delete(id: container.name)
            } catch {
                logger.warning("cannot delete a container", metadata: ["container": "\(container.name)", "error": "\(error)"])
            }
            container.link.removeHostInterface()
            InstanceLink.removeNamespace(at: container.namespace)
            if !keep {
                try? Self.removeTree(container.directory)
                unlink(container.logFile)
            }
        }
    }

    static func describe(_ exit: ChildProcess.Exit) -> String {
        exit == .exited(-1) ? "its process ended (not a child of this process: status unknown)" : exit.description
    }

    private static func removeTree(_ path: String) throws(ControlError) {
        guard access(path, F_OK) == 0 else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw ControlError(.spawnFailed, "cannot remove \(path): \(error)", underlying: error)
        }
    }
}
