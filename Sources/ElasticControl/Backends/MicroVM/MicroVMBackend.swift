#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import HTTPToolkit
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Boots each instance as a QEMU `microvm` guest: the host's kernel, the initramfs of an image
/// `ecdn image vm` wrote (its init configures the network and execs `minicache`), a fresh
/// volume as a virtio disk, and a tap with the instance's site address (``InstanceLink``), so
/// the router, the controller and viewers reach it as a process.
///
/// KVM is used when `/dev/kvm` opens. A KVM guest whose init has not printed its first line
/// within ``MicroVMConfiguration/kvmBootTimeout`` (a nested host can hang right after the
/// kernel's decompressor), or whose QEMU ends before the guest answers, whatever its exit
/// status, without the guest saying it failed (QEMU 7.2 on a nested host aborts on an MSR it
/// cannot set; others exit 0), is stopped and booted again under TCG, and every later guest
/// boots under TCG; a warning in the log, the console log and the instance's ``note(of:)`` say
/// so and why.
///
/// Ready = the guest accepts TCP connections on its data and admin ports (`minicache` binds its
/// admin listener last). Stopping ends QEMU (the guest
/// holds no state worth a clean shutdown: its volume is discarded) and removes the tap and the
/// instance's files. Needs root (taps).
public final class MicroVMBackend: SiteBackend {
    public let configuration: MicroVMConfiguration
    /// The settings every backend shares (executable, work directory, volumes, arguments).
    public let instances: ProcessBackendConfiguration
    public let image: VMImage
    public var kind: String { "microvm" }

    /// Guest memory in MiB: ``MicroVMConfiguration/memoryMiB`` or, when nil, sized from the
    /// image (``VMImage/guestMemoryMiB``).
    public let guestMemoryMiB: Int
    private let logger: Logger
    private let qemu: String
    private let tscKHz: Int?
    /// QEMU processes are forked from this thread: their death signal follows the thread that forked them.
    private let spawner: MultiThreadedEventLoopGroup
    private let volumes: VolumePool
    private let machines = Mutex<[String: Machine]>([:])
    /// Whether KVM guests come up here: nil until one has been tried.
    private let kvmState: Mutex<KVMState>
    private static let serial = Atomic<UInt32>(0)

    enum KVMState: Sendable, Equatable {
        case untried, works
        case broken(String)
    }

    struct Machine: Sendable {
        var spec: InstanceSpec
        var command: QEMUCommand
        var process: ChildProcess
        var directory: String
        var logFile: String
        var link: InstanceLink
        var launchedAt: Double
        /// Its init printed its first line.
        var up = false
        var ready = false
        /// QEMU ended and the watcher found it to be the instance's end, not KVM's (under KVM
        /// an end is undecided until then).
        var ended = false
        /// QEMU is being replaced (KVM to TCG): its end is not the instance's.
        var restarting = false
        var note: String?
        var watcher: Task<Void, Never>?
    }

    /// Why the backend cannot run here, or nil when it can (tests skip with this reason).
    public static func unavailableReason(qemu: String = "qemu-system-x86_64") -> String? {
        if geteuid() != 0 { return "the microvm backend needs root (tap devices)" }
        if ImageTools.find(qemu) == nil && !qemu.contains("/") { return "no \(qemu) (apt-get install qemu-system-x86)" }
        if VMImage.defaultKernel() == nil { return "no kernel in /boot (apt-get install linux-image-cloud-amd64)" }
        if access("/dev/net/tun", R_OK | W_OK) != 0 { return "no /dev/net/tun for tap devices" }
        return nil
    }

    /// The start of the names of the host ends of instances' links.
    static let interfacePrefix = "mv"

    /// Finds QEMU, and opens the image (or writes one from the shared executable).
    /// - Throws: ``ControlError`` `badConfiguration` when this host cannot boot microVMs (the
    ///   message says what is missing), or `imageFailed`.
    public init(configuration: MicroVMConfiguration, instances: ProcessBackendConfiguration, logger: Logger) throws(ControlError) {
        if geteuid() != 0 {
            throw ControlError(.badConfiguration, "the microvm backend needs root (tap devices): run ecdn as root or use --backend process")
        }
        guard let qemu = configuration.qemu.contains("/") ? configuration.qemu : ImageTools.find(configuration.qemu) else {
            throw ControlError(.badConfiguration, "no \(configuration.qemu): install QEMU (apt-get install qemu-system-x86)")
        }
        self.configuration = configuration
        self.instances = instances
        self.logger = logger
        self.qemu = qemu
        try ProcessBackend.makeDirectory(instances.workDirectory)
        if let path = configuration.image {
            image = try VMImage.open(path)
        } else {
            image = try VMImage.build(VMImage.BuildOptions(minicache: instances.minicachePath), into: instances.workDirectory + "/image")
        }
        guestMemoryMiB = configuration.memoryMiB ?? image.guestMemoryMiB
        if guestMemoryMiB < image.minimumMemoryMiB {
            logger.warning("guest memory is likely too small for the image: the kernel may fail to unpack its initramfs", metadata: [
                "memory.mib": "\(guestMemoryMiB)", "expected.mib": "\(image.minimumMemoryMiB)", "initramfs.bytes": "\(image.manifest.initramfsBytes)",
            ])
        }
        InstanceLink.removeLeftovers(prefix: Self.interfacePrefix, logger: logger)
        tscKHz = Self.hostTSCKHz()
        var kvm = KVMState.untried
        switch configuration.accelerator {
        case .tcg: kvm = .broken("not tried, TCG was asked for")
        case .kvm, .auto:
            let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
            if fd < 0 {
                let why = HostFile.describe(errno)
                if configuration.accelerator == .kvm {
                    throw ControlError(.badConfiguration, "cannot open /dev/kvm (\(why)): use --vm-accelerator tcg or auto")
                }
                kvm = .broken("/dev/kvm cannot be opened (\(why))")
            } else {
                close(fd)
            }
        }
        kvmState = Mutex(kvm)
        spawner = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        volumes = VolumePool(directory: instances.workDirectory, volumeSize: instances.volumeSize, spares: instances.spareVolumes, logger: logger)
        logger.info("microvm backend ready", metadata: [
            "qemu": "\(qemu)", "kernel": "\(image.manifest.kernelVersion) (\(image.manifest.kernelFormat))",
            "initramfs.bytes": "\(image.manifest.initramfsBytes)", "memory.mib": "\(guestMemoryMiB)", "kvm": "\(kvm)",
        ])
    }

    deinit {
        spawner.shutdownGracefully { _ in }
    }

    // MARK: SiteBackend

    public func launch(_ spec: InstanceSpec) async throws(ControlError) {
        guard !spec.tls else {
            throw ControlError(.badConfiguration, "instance \(spec.id): the microvm backend serves plain HTTP only; HTTPS caches run on the process backend")
        }
        let name = CgroupTree.safeName(spec.id)
        let directory = "\(instances.workDirectory)/\(name)"
        let link = InstanceLink(
            address: spec.address, prefix: Self.interfacePrefix, kind: 0x20, number: Self.serial.wrappingAdd(1, ordering: .relaxed).newValue,
            hostSource: configuration.hostSource
        )
        let volume = directory + "/volume.shfs"
        var minicache = [
            "serve", "/dev/vda", "--listen", "\(spec.address):\(spec.port)", "--admin", "\(spec.address):\(spec.adminPort)", "--origin", spec.origin,
        ] + (instances.adminTokenFile == nil ? [] : ["--admin-token-file", "/admin.token"]) + instances.extraArguments
        if !instances.extraArguments.contains("--memory-budget") {
            minicache += ["--memory-budget", "\(guestMemoryMiB << 20 / 4)"]
        }
        let (accelerator, note): (QEMUCommand.Accelerator, String) = kvmState.withLock { state in
            if case .broken(let why) = state { return (.tcg, "TCG (no KVM: \(why))") }
            return (.kvm, "KVM")
        }
        // With an admin token, the guest boots from its own initramfs that carries it.
        let initramfs = instances.adminTokenFile == nil ? image.initramfs : directory + "/initramfs.cpio"
        let command = QEMUCommand(
            kernel: image.kernel, initramfs: initramfs, volume: volume, tap: link.hostInterface,
            guestMAC: InstanceLink.text(ofMAC: link.instanceMAC), hostMAC: InstanceLink.text(ofMAC: link.hostMAC), address: spec.address,
            memoryMiB: guestMemoryMiB, accelerator: accelerator, minicacheArguments: minicache,
            kernelArguments: configuration.kernelArguments, tscKHz: tscKHz
        )
        try? FileManager.default.removeItem(atPath: directory)
        guard mkdir(directory, 0o700) == 0 else {
            throw ControlError(.spawnFailed, "cannot create \(directory): \(HostFile.describe(errno))")
        }
        let logFile = directory + "/console.log"
        let process: ChildProcess
        do throws(ControlError) {
            if let token = instances.adminTokenFile { try Self.writeInitramfs(image.initramfs, adminToken: token, to: initramfs) }
            try volumes.take(to: volume)
            try link.makeTap()
            do {
                process = try await spawn(command, log: logFile)
            } catch {
                link.removeHostInterface()
                throw error
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        if instances.detached { persist(spec, command: command, note: note, pid: process.pid, in: directory) }
        logger.info("microvm launched", metadata: [
            "instance.id": "\(spec.id)", "pid": "\(process.pid)", "accelerator": "\(accelerator.rawValue)", "tap": "\(link.hostInterface)",
        ])
        machines.withLock {
            $0[spec.id] = Machine(
                spec: spec, command: command, process: process, directory: directory, logFile: logFile, link: link,
                launchedAt: HTTPDate.monotonic(), note: note
            )
        }
        let watcher = Task { await self.watch(spec.id) }
        machines.withLock { $0[spec.id]?.watcher = watcher }
    }

    /// Writes the image's initramfs with `/admin.token` (a copy of `adminToken`, root's, mode
    /// 0400) appended as a second archive, which the kernel unpacks after the first: the token
    /// reaches the guest without showing on QEMU's command line, which every host user can read.
    /// - Throws: ``ControlError`` `spawnFailed`.
    static func writeInitramfs(_ image: String, adminToken: String, to path: String) throws(ControlError) {
        do {
            let file = try ArchiveFile(creating: path, mode: 0o600)
            try file.append(contentsOf: image)
            try file.pad(to: 4)
            try CPIOWriter().write([ArchiveEntry("admin.token", mode: 0o400, .file(source: adminToken))], to: file)
            try file.flush()
        } catch {
            throw ControlError(.spawnFailed, "cannot give the VM its admin token: \(error.message)", underlying: error)
        }
    }

    public func probe(_ id: String) -> InstanceProbe {
        guard let machine = machines.withLock({ $0[id] }) else { return .exited("unknown instance") }
        // Under KVM, the watcher decides whether an end before ready means booting again under TCG.
        let undecided = machine.restarting || (machine.command.accelerator == .kvm && !machine.ready && !machine.ended)
        if !undecided, let exit = machine.process.poll() {
            return .exited(Self.failure(inLog: machine.logFile).map { "\(exit): \($0)" } ?? exit.description)
        }
        return machine.ready ? .ready : .booting
    }

    @discardableResult
    public func terminate(_ id: String, grace: Double) async -> String {
        guard let machine = machines.withLock({ $0.removeValue(forKey: id) }) else { return "unknown instance" }
        machine.watcher?.cancel()
        let exit = await machine.process.stop(grace: min(grace, 2))
        machine.link.removeHostInterface()
        if !instances.keepFiles { try? FileManager.default.removeItem(atPath: machine.directory) }
        return exit.description
    }

    public func kill(_ id: String) {
        machines.withLock { $0[id] }?.process.signal(SIGKILL)
    }

    public func terminateAll(grace: Double) async {
        await terminateEach(machines.withLock { Array($0.keys) }, grace: grace)
        volumes.removeSpares()
    }

    /// Guests an earlier owner of this work folder started with detached instances
    /// (``ProcessBackendConfiguration/detached``): each QEMU that still runs this instance's
    /// volume is attached again and watched until it answers; each one that ended has its tap
    /// and files removed.
    public func adopt() async -> [AdoptedInstance] {
        guard instances.detached else { return [] }
        let work = instances.workDirectory
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter {
            access("\(work)/\($0)/instance.spec", R_OK) == 0
        }
        var found: [AdoptedInstance] = []
        for name in names.sorted() {
            let directory = "\(work)/\(name)"
            guard let spec = HostFile.read(directory + "/instance.spec").flatMap(InstanceSpecFile.init(line:))?.spec,
                  let saved = try? JSONDecoder().decode(SavedMachine.self, from: Data((HostFile.read(directory + "/machine.json") ?? "").utf8)) else {
                try? FileManager.default.removeItem(atPath: directory)
                continue
            }
            let link = InstanceLink(adoptedHostInterface: saved.command.tap, address: spec.address, hostSource: configuration.hostSource)
            let pid = HostFile.read(directory + "/qemu.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? -1
            // The pid must still be this instance's QEMU (pids are reused).
            guard pid > 0, ChildProcess.commandLine(pid)?.contains(saved.command.volume) == true, let process = ChildProcess.adopt(pid: pid) else {
                link.removeHostInterface()
                if !instances.keepFiles { try? FileManager.default.removeItem(atPath: directory) }
                found.append(AdoptedInstance(spec: spec, probe: .exited("ended while its owner was away")))
                continue
            }
            var machine = Machine(
                spec: spec, command: saved.command, process: process, directory: directory, logFile: directory + "/console.log", link: link,
                launchedAt: HTTPDate.monotonic(), note: saved.note
            )
            machine.ready = await Self.serves(spec)
            machines.withLock { $0[spec.id] = machine }
            if !machine.ready {
                let watcher = Task { await self.watch(spec.id) }
                machines.withLock { $0[spec.id]?.watcher = watcher }
            }
            found.append(AdoptedInstance(spec: spec, probe: machine.ready ? .ready : .booting))
            logger.info("microvm adopted", metadata: ["instance.id": "\(spec.id)", "pid": "\(pid)"])
        }
        return found
    }

    /// What a restarted owner needs to adopt a guest.
    private struct SavedMachine: Codable {
        var command: QEMUCommand
        var note: String
    }

    private func persist(_ spec: InstanceSpec, command: QEMUCommand, note: String, pid: Int32, in directory: String) {
        HostFile.write(directory + "/instance.spec", InstanceSpecFile(spec: spec).line, create: true)
        HostFile.write(directory + "/qemu.pid", "\(pid)\n", create: true)
        if let json = try? OCIImage.encode(SavedMachine(command: command, note: note)) {
            HostFile.write(directory + "/machine.json", String(decoding: json, as: UTF8.self), create: true)
        }
    }

    // MARK: Inspection (tests, API)

    /// The QEMU process of an instance.
    public func pid(of id: String) -> Int32? { machines.withLock { $0[id]?.process.pid } }

    /// The accelerator the guest runs under, and why it is TCG when it is.
    public func note(of id: String) -> String? { machines.withLock { $0[id]?.note } }

    /// ``MicroVMConfiguration/readyTimeout``: a TCG boot takes seconds.
    public func readyTimeout(forSite site: String) -> Double? { configuration.readyTimeout }

    /// The host end of an instance's network (its tap).
    public func tap(of id: String) -> String? { machines.withLock { $0[id]?.link.hostInterface } }

    /// The path of an instance's console log (kernel, init, minicache and QEMU's messages).
    public func logPath(of id: String) -> String { "\(instances.workDirectory)/\(CgroupTree.safeName(id))/console.log" }

    /// Whether KVM guests come up on this host: nil until one was tried.
    public var kvmWorks: Bool? {
        switch kvmState.withLock({ $0 }) {
        case .untried: nil
        case .works: true
        case .broken: false
        }
    }

    // MARK: Booting

    private func spawn(_ command: QEMUCommand, log: String) async throws(ControlError) -> ChildProcess {
        let qemu = qemu
        let detached = instances.detached
        let result: Result<ChildProcess, ControlError>
        do {
            result = try await spawner.next().submit { () -> Result<ChildProcess, ControlError> in
                do throws(ControlError) {
                    return .success(try ChildProcess.spawn(executable: qemu, arguments: command.arguments, logPath: log, dieWithParent: !detached))
                } catch {
                    return .failure(error)
                }
            }.get()
        } catch {
            throw ControlError(.spawnFailed, "the spawner thread is gone: \(error)", underlying: error)
        }
        return try result.get()
    }

    /// Follows a guest from launch to ready: its init's first line on the console, then its
    /// address accepting connections. Under KVM, a guest that does not print that line in time,
    /// or whose QEMU ends before the guest answers without the guest's own failure on the
    /// console, is booted again under TCG.
    private func watch(_ id: String) async {
        var offset: Int64 = 0
        var console = ""
        var up = false
        while !Task.isCancelled {
            guard let machine = machines.withLock({ $0[id] }) else { return }
            let exited = machine.process.poll()
            if !up, let text = Self.read(machine.logFile, from: &offset) {
                console += text
                up = console.contains(VMInit.upMarker)
                if up {
                    machines.withLock { $0[id]?.up = true }
                    if machine.command.accelerator == .kvm { kvmState.withLock { if $0 == .untried { $0 = .works } } }
                }
            }
            if machine.command.accelerator == .kvm {
                let waited = HTTPDate.monotonic() - machine.launchedAt
                var why: String?
                if let exited {
                    if Self.guestFailure(inLog: machine.logFile) == nil {
                        why = "QEMU under KVM \(exited) before the guest answered"
                            + (Self.failure(inLog: machine.logFile).map { ": \($0)" } ?? (up ? "" : ", its console empty"))
                    }
                } else if !up, waited > configuration.kvmBootTimeout {
                    why = "the KVM guest printed nothing within \(configuration.kvmBootTimeout) s"
                }
                if let why {
                    await fallBackToTCG(id, because: why)
                    offset = 0
                    console = ""
                    up = false
                    continue
                }
            }
            if exited != nil {
                machines.withLock { $0[id]?.ended = true }
                return
            }
            if up, await Self.serves(machine.spec) {
                machines.withLock { $0[id]?.ready = true }
                logger.info("microvm ready", metadata: [
                    "instance.id": "\(id)", "accelerator": "\(machine.command.accelerator.rawValue)",
                    "boot.ms": "\(ProcessBackend.milliseconds(HTTPDate.monotonic() - machine.launchedAt))",
                ])
                return
            }
            try? await Task.sleep(for: .milliseconds(up ? 5 : 20))
        }
    }

    /// Stops a KVM guest that did not come up and boots it again under TCG; every later guest
    /// boots under TCG.
    private func fallBackToTCG(_ id: String, because why: String) async {
        kvmState.withLock { $0 = .broken(why) }
        guard var machine = machines.withLock({ state -> Machine? in
            state[id]?.restarting = true
            return state[id]
        }) else { return }
        logger.warning("microvm: KVM does not work on this host; booting the guest again under TCG, and every later guest under TCG (slower)", metadata: [
            "instance.id": "\(id)", "reason": "\(why)",
        ])
        _ = await machine.process.stop(grace: 0)
        let logFile = machine.logFile
        // The failed boot's console stays in the log, marked, for inspection.
        if let handle = FileHandle(forWritingAtPath: logFile) {
            _ = try? handle.seekToEnd()
            handle.write(Data("\n\(Self.restartMarker)\(why); booting again under TCG ---\n".utf8))
            try? handle.close()
        }
        machine.command.accelerator = .tcg
        let note = "TCG (KVM was tried first: \(why))"
        do {
            let process = try await spawn(machine.command, log: logFile)
            if instances.detached { persist(machine.spec, command: machine.command, note: note, pid: process.pid, in: machine.directory) }
            machines.withLock {
                $0[id]?.process = process
                $0[id]?.command = machine.command
                $0[id]?.launchedAt = HTTPDate.monotonic()
                $0[id]?.up = false
                $0[id]?.restarting = false
                $0[id]?.note = note
            }
        } catch {
            logger.error("cannot boot a guest under TCG", metadata: ["instance.id": "\(id)", "error": "\(error)"])
            machines.withLock {
                $0[id]?.restarting = false
                $0[id]?.note = "\(note); TCG: \(error)"
            }
        }
    }

    /// Reads what was appended to `path` since `offset`.
    private static func read(_ path: String, from offset: inout Int64) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil, let data = try? handle.readToEnd(), !data.isEmpty else { return nil }
        offset += Int64(data.count)
        return String(decoding: data, as: UTF8.self)
    }

    /// The last line of the console that says why the guest or QEMU failed, if any.
    static func failure(inLog path: String) -> String? {
        lastLine(inLog: path) { $0.hasPrefix(VMInit.failureMarker) || $0.hasPrefix("qemu-system") || $0.contains("Kernel panic") }
    }

    /// The last line of the console in which the guest itself says it failed (its init, or the
    /// kernel's panic), if any: such an end is the instance's, not the accelerator's.
    static func guestFailure(inLog path: String) -> String? {
        lastLine(inLog: path) { $0.hasPrefix(VMInit.failureMarker) || $0.contains("Kernel panic") }
    }

    /// Starts the line the backend writes into a console log before booting again under TCG.
    static let restartMarker = "--- ecdn: "

    /// The last matching line of the latest boot's console (after the last restart marker).
    private static func lastLine(inLog path: String, where matches: (Substring) -> Bool) -> String? {
        guard let text = OCIRuntime.tail(of: path, from: 0) else { return nil }
        let lines = text.split(separator: "\n")
        let start = lines.lastIndex { $0.hasPrefix(restartMarker) }.map { $0 + 1 } ?? lines.startIndex
        return lines[start...].last(where: matches).map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    /// Whether `spec`'s guest accepts connections on its data port and on its admin port, which
    /// `minicache` binds after the data listener (under TCG, seconds after): a guest whose data
    /// port alone accepts does not answer the admin API yet.
    private static func serves(_ spec: InstanceSpec) async -> Bool {
        guard await accepts(host: spec.address, port: spec.port) else { return false }
        return await accepts(host: spec.address, port: spec.adminPort)
    }

    /// Whether `host:port` accepts a TCP connection now.
    private static func accepts(host: String, port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(200))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }

    /// The host's TSC frequency when it is constant (`constant_tsc` and `nonstop_tsc`), from
    /// `/proc/cpuinfo`; nil otherwise.
    static func hostTSCKHz(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Int? {
        guard let cpuinfo, cpuinfo.contains("constant_tsc"), cpuinfo.contains("nonstop_tsc") else { return nil }
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
              let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) else { return nil }
        return Int(value * 1000)
    }
}
