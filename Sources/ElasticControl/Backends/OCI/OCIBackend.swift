#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Logging
import NIOPosix
import SHFS
import Synchronization

/// Runs each instance as an OCI container with the host's runtime (`runc`), from the root of an
/// image `ecdn image oci` wrote:
///
/// - one runtime bundle per instance (`WORK/oci/ID/config.json`): the image's `rootfs`
///   read-only, the instance's `data/` folder (fresh volume, ready file) at `/data`, new PID, IPC, UTS
///   and mount namespaces, no capabilities, `no_new_privs`, user nobody, cgroup limits on
///   memory, CPU and processes;
/// - its network namespace made beforehand with the instance's site address on a veth
///   (``InstanceLink``), so the router, the controller and viewers reach it as a process;
/// - `runc run --detach`; the container's first process is then watched through a pidfd, and
///   reaped by this process (a child subreaper) for its exit status.
///
/// Ready = its ready file appears. Stopping removes the container, its cgroups, its namespace
/// and veth, and its files. Needs root.
public final class OCIBackend: SiteBackend {
    public let configuration: OCIConfiguration
    /// The settings every backend shares (executable, work directory, volumes, arguments).
    public let instances: ProcessBackendConfiguration
    public let image: OCIImage
    public let runtime: OCIRuntime
    public var kind: String { "oci" }

    private let logger: Logger
    /// Runs the blocking work of a start or stop (`ip`, the runtime), several at once.
    private let blocking: NIOThreadPool
    private let containers = Mutex<[String: Container]>([:])
    private static let serial = Atomic<UInt32>(0)

    struct Container: Sendable {
        var id: String
        var directory: String
        var readyFile: String
        var logFile: String
        var namespace: String
        var hostInterface: String
        var process: WatchedProcess
        var ready: Bool
    }

    /// Why the backend cannot run here, or nil when it can (tests skip with this reason).
    public static func unavailableReason(runtime: String = "runc") -> String? {
        if geteuid() != 0 { return "the oci backend needs root (network namespaces, veth interfaces, the runtime's cgroups)" }
        if ImageTools.find(runtime) == nil && !runtime.contains("/") { return "no OCI runtime `\(runtime)` (apt-get install runc)" }
        if ImageTools.find("ip") == nil { return "no `ip` command (apt-get install iproute2)" }
        return nil
    }

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
        do {
            try FileManager.default.createDirectory(atPath: instances.workDirectory, withIntermediateDirectories: true)
        } catch {
            throw ControlError(.badConfiguration, "cannot create the work directory \(instances.workDirectory): \(error)", underlying: error)
        }
        runtime = try OCIRuntime(configuration.runtime, root: instances.workDirectory + "/runtime")
        if let path = configuration.image {
            image = try OCIImage.open(path)
        } else {
            image = try OCIImage.build(OCIImage.BuildOptions(minicache: instances.minicachePath, compress: false), into: instances.workDirectory + "/image")
        }
        WatchedProcess.becomeSubreaper()
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
        let name = Self.safeName(spec.id)
        let directory = "\(instances.workDirectory)/\(name)"
        let logFile = directory + ".log"
        let number = Self.serial.wrappingAdd(1, ordering: .relaxed).newValue
        let hostInterface = InstanceLink.interfaceName(prefix: "mo", number: number)
        let namespace = "ecdn-" + hostInterface
        var arguments = [
            "/minicache", "serve", "/data/volume.shfs", "--listen", "\(spec.address):\(spec.port)",
            "--admin", "\(spec.address):\(spec.adminPort)", "--origin", spec.origin, "--ready-file", "/data/ready",
        ] + instances.extraArguments
        if let memory = configuration.memoryBytes, !instances.extraArguments.contains("--memory-budget") {
            // The object cache stays well inside the memory limit, so a busy cache is not OOM-killed.
            arguments += ["--memory-budget", "\(memory / 2)"]
        }
        let c = configuration
        let work = instances
        let rootfs = image.rootfs
        let runtime = runtime
        let t0 = HTTPDate.monotonic()
        let started: Result<Int32, ControlError>
        do {
            started = try await blocking.runIfActive { () -> Result<Int32, ControlError> in
                do throws(ControlError) {
                    try Self.prepareDirectory(directory, volumeSize: work.volumeSize, uid: c.uid, gid: c.gid)
                    let path = try InstanceLink.makeNamespace(
                        namespace, address: spec.address, hostInterface: hostInterface,
                        hostMAC: InstanceLink.mac(kind: 0x10, number: number, end: 1), instanceMAC: InstanceLink.mac(kind: 0x10, number: number, end: 2),
                        hostSource: c.hostSource
                    )
                    var options = OCIRuntimeSpec.Options(arguments: arguments)
                    options.rootPath = rootfs
                    options.dataDirectory = directory + "/data"
                    options.network = .join(path)
                    options.hostname = name
                    options.uid = c.uid
                    options.gid = c.gid
                    options.cgroupsPath = "ecdn-oci/\(name)"
                    options.memoryBytes = c.memoryBytes
                    options.cpus = c.cpus
                    options.pids = c.pids
                    options.hostFiles = ["/etc/hosts", "/etc/resolv.conf"].filter { access($0, R_OK) == 0 }
                    try OCIImage.writeJSON(OCIRuntimeSpec(options), to: directory + "/config.json")
                    return .success(try runtime.run(id: name, bundle: directory, log: logFile))
                } catch {
                    _ = try? runtime.delete(id: name)
                    InstanceLink.removeInterface(hostInterface)
                    InstanceLink.removeNamespace(namespace)
                    Self.removeDirectory(directory)
                    return .failure(error)
                }
            }
        } catch {
            throw ControlError(.spawnFailed, "the oci backend is shutting down: \(error)", underlying: error)
        }
        let pid = try started.get()
        guard let process = WatchedProcess(pid: pid) else {
            await cleanUp(name: name, directory: directory, logFile: logFile, namespace: namespace, hostInterface: hostInterface)
            throw ControlError(.spawnFailed, "\(runtime.name) started \(name) but its process \(pid) is already gone; see \(logFile)")
        }
        logger.info("container started", metadata: [
            "instance.id": "\(spec.id)", "pid": "\(pid)", "start.ms": "\(ProcessBackend.milliseconds(HTTPDate.monotonic() - t0))",
        ])
        containers.withLock {
            $0[spec.id] = Container(
                id: name, directory: directory, readyFile: directory + "/data/ready", logFile: logFile, namespace: namespace,
                hostInterface: hostInterface, process: process, ready: false
            )
        }
    }

    public func probe(_ id: String) -> InstanceProbe {
        guard let container = containers.withLock({ $0[id] }) else { return .exited("unknown instance") }
        if let exit = container.process.poll() { return .exited(Self.describe(exit)) }
        if container.ready { return .ready }
        guard access(container.readyFile, F_OK) == 0 else { return .booting }
        containers.withLock { $0[id]?.ready = true }
        return .ready
    }

    @discardableResult
    public func terminate(_ id: String, grace: Double) async -> String {
        guard let container = containers.withLock({ $0.removeValue(forKey: id) }) else { return "unknown instance" }
        var exit = container.process.poll()
        if exit == nil {
            container.process.signal(SIGTERM)
            exit = await container.process.wait(timeout: grace)
            if exit == nil {
                container.process.signal(SIGKILL)
                exit = await container.process.wait(timeout: 5)
            }
        }
        await cleanUp(
            name: container.id, directory: container.directory, logFile: container.logFile, namespace: container.namespace,
            hostInterface: container.hostInterface
        )
        return exit.map(Self.describe) ?? "still running after SIGKILL; deleted by \(runtime.name)"
    }

    public func kill(_ id: String) {
        containers.withLock { $0[id] }?.process.signal(SIGKILL)
    }

    public func terminateAll(grace: Double) async {
        let ids = containers.withLock { Array($0.keys) }
        await withTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { await self.terminate(id, grace: grace) }
            }
        }
    }

    // MARK: Inspection (tests, API)

    /// The host process id of an instance's container (its `minicache`).
    public func pid(of id: String) -> Int32? { containers.withLock { $0[id]?.process.pid } }

    /// The container id the runtime knows an instance by.
    public func containerID(of id: String) -> String? { containers.withLock { $0[id]?.id } }

    /// The host end of an instance's veth, and its network namespace's name.
    public func network(of id: String) -> (interface: String, namespace: String)? {
        containers.withLock { $0[id].map { ($0.hostInterface, $0.namespace) } }
    }

    /// The path of an instance's log (the container's output and the runtime's messages).
    public func logPath(of id: String) -> String { "\(instances.workDirectory)/\(Self.safeName(id)).log" }

    // MARK: Helpers

    private func cleanUp(name: String, directory: String, logFile: String, namespace: String, hostInterface: String) async {
        let runtime = runtime
        let keep = instances.keepFiles
        let logger = logger
        _ = try? await blocking.runIfActive {
            do throws(ControlError) {
                try runtime.delete(id: name)
            } catch {
                logger.warning("cannot delete a container", metadata: ["container": "\(name)", "error": "\(error)"])
            }
            InstanceLink.removeInterface(hostInterface)
            InstanceLink.removeNamespace(namespace)
            if !keep {
                Self.removeDirectory(directory)
                unlink(logFile)
            }
        }
    }

    static func describe(_ exit: ChildProcess.Exit) -> String {
        exit == .exited(-1) ? "its process ended (not a child of this process: status unknown)" : exit.description
    }

    /// `site1-default-3` stays; anything outside `[A-Za-z0-9_.-]` becomes `_`.
    static func safeName(_ id: String) -> String {
        String(id.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "_" })
    }

    /// A fresh bundle folder (the runtime's `config.json` and pid file) holding `data/`, the
    /// instance's `/data` with a fresh volume, owned by the instance's user.
    private static func prepareDirectory(_ directory: String, volumeSize: Int64, uid: UInt32, gid: UInt32) throws(ControlError) {
        removeDirectory(directory)
        guard mkdir(directory, 0o700) == 0, mkdir(directory + "/data", 0o700) == 0 else {
            throw ControlError(.spawnFailed, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        let volume = directory + "/data/volume.shfs"
        do {
            try Volume.format(path: volume, options: FormatOptions(size: volumeSize, name: "ecdn", force: true))
        } catch {
            throw ControlError(.volumeFailed, "cannot create the volume \(volume): \(error)", underlying: error)
        }
        _ = chown(directory + "/data", uid, gid)
        _ = chown(volume, uid, gid)
    }

    private static func removeDirectory(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
