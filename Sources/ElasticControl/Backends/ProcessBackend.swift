#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// How the process backend runs instances.
public struct ProcessBackendConfiguration: Sendable {
    /// The `minicache` executable.
    public var minicachePath: String
    /// Where volumes, ready files and logs go (created if missing).
    public var workDirectory: String
    /// Bytes of each instance's fresh volume (a sparse file). Default 256 MiB.
    public var volumeSize: Int64
    /// More arguments for `minicache serve`. Default `--threads 1`.
    public var extraArguments: [String]
    /// Keep volumes and logs of stopped instances (for inspection). Default false.
    public var keepFiles: Bool
    /// Volumes formatted ahead of need, so a start only renames one (formatting syncs the disk
    /// twice, which costs milliseconds to tens of milliseconds on a busy disk). Default 2.
    public var spareVolumes: Int
    /// Instances outlive this process (no death signal) and leave `ID.pid` / `ID.spec` files, so
    /// a restarted owner adopts them (``ProcessBackend/adopt()``). Site agents set it; `ecdn up`
    /// does not (its caches stop with it). Default false.
    public var detached: Bool
    /// The file with the bearer token every instance's admin listener asks for
    /// (`minicache serve --admin-token-file`). `minicache` refuses an admin listener on an
    /// address other hosts can reach without one, so instances on non-loopback addresses (a site
    /// host's own addresses) need it. Default nil: none, for loopback instances.
    public var adminTokenFile: String?
    /// The certificate instances whose spec asks for TLS serve with (`--listen-tls`). Default nil.
    public var tls: TLSFiles?
    /// A PEM CA file instances check their `https://` origin's certificate against (`--origin-ca`)
    /// instead of the system's roots. Default nil.
    public var originCA: String?

    public init(
        minicachePath: String,
        workDirectory: String,
        volumeSize: Int64 = 256 << 20,
        extraArguments: [String] = ["--threads", "1"],
        keepFiles: Bool = false,
        spareVolumes: Int = 2,
        detached: Bool = false,
        adminTokenFile: String? = nil,
        tls: TLSFiles? = nil,
        originCA: String? = nil
    ) {
        self.tls = tls
        self.originCA = originCA
        self.minicachePath = minicachePath
        self.workDirectory = workDirectory
        self.volumeSize = volumeSize
        self.extraArguments = extraArguments
        self.keepFiles = keepFiles
        self.spareVolumes = spareVolumes
        self.detached = detached
        self.adminTokenFile = adminTokenFile
    }
}

/// Runs each instance as a `minicache serve` child process with its own fresh SHFS volume:
/// `minicache serve VOLUME --listen ADDR:PORT --admin ADDR:PORT --origin URL --ready-file PATH`.
/// The instance is ready when its ready file appears.
public final class ProcessBackend: SiteBackend {
    public let configuration: ProcessBackendConfiguration
    public var kind: String { "process" }
    private let logger: Logger
    private let children = Mutex<[String: Child]>([:])
    /// Forks happen on this thread: it lives as long as the backend, and the children's death
    /// signal follows the thread that forked them.
    private let spawner: MultiThreadedEventLoopGroup
    private let volumes: VolumePool

    private struct Child: Sendable {
        var process: ChildProcess
        var readyFile: String
        var files: [String]
        var ready: Bool
    }

    /// - Throws: ``ControlError`` `badConfiguration` if the work directory cannot be created.
    public init(configuration: ProcessBackendConfiguration, logger: Logger) throws(ControlError) {
        self.configuration = configuration
        self.logger = logger
        try Self.makeDirectory(configuration.workDirectory)
        self.spawner = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.volumes = VolumePool(
            directory: configuration.workDirectory, volumeSize: configuration.volumeSize, spares: configuration.spareVolumes, logger: logger
        )
    }

    deinit {
        spawner.shutdownGracefully { _ in }
    }

    /// Creates `path` and its missing parents.
    /// - Throws: ``ControlError`` `badConfiguration`.
    static func makeDirectory(_ path: String) throws(ControlError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw ControlError(.badConfiguration, "cannot create the work directory \(path): errno \(errno)")
            }
        }
    }

    public func launch(_ spec: InstanceSpec) async throws(ControlError) {
        let base = "\(configuration.workDirectory)/\(spec.id)"
        let volume = base + ".shfs"
        let readyFile = base + ".ready"
        let logFile = base + ".log"
        let pidFile = base + ".pid"
        let specFile = base + ".spec"
        unlink(readyFile)
        unlink(volume)
        let t0 = HTTPDate.monotonic()
        try volumes.take(to: volume)
        let t1 = HTTPDate.monotonic()
        let arguments = try ["serve", volume] + Self.listenArguments(spec, configuration: configuration) + [
            "--admin", "\(spec.address):\(spec.adminPort)", "--origin", spec.origin, "--ready-file", readyFile,
        ] + (configuration.adminTokenFile.map { ["--admin-token-file", $0] } ?? []) + configuration.extraArguments
        let executable = configuration.minicachePath
        let fullArguments = arguments
        let detached = configuration.detached
        let result: Result<ChildProcess, ControlError>
        do {
            result = try await spawner.next().submit { () -> Result<ChildProcess, ControlError> in
                do throws(ControlError) {
                    return .success(try ChildProcess.spawn(executable: executable, arguments: fullArguments, logPath: logFile, dieWithParent: !detached))
                } catch {
                    return .failure(error)
                }
            }.get()
        } catch {
            throw ControlError(.spawnFailed, "the spawner thread is gone: \(error)", underlying: error)
        }
        let process = try result.get()
        let t2 = HTTPDate.monotonic()
        logger.info("instance launched", metadata: [
            "instance.id": "\(spec.id)", "pid": "\(process.pid)",
            "volume.ms": "\(Self.milliseconds(t1 - t0))", "spawn.ms": "\(Self.milliseconds(t2 - t1))",
        ])
        var files = [volume, readyFile, logFile]
        if detached {
            Self.write(InstanceSpecFile(spec: spec).line, to: specFile)
            Self.write("\(process.pid)\n", to: pidFile)
            files += [specFile, pidFile]
        }
        children.withLock { $0[spec.id] = Child(process: process, readyFile: readyFile, files: files, ready: false) }
    }

    public func adopt() async -> [AdoptedInstance] {
        guard configuration.detached else { return [] }
        let names = HostFile.names(in: configuration.workDirectory).filter { $0.hasSuffix(".spec") }.map { String($0.dropLast(5)) }
        var found: [AdoptedInstance] = []
        for id in names.sorted() {
            let base = "\(configuration.workDirectory)/\(id)"
            let files = [".shfs", ".ready", ".log", ".spec", ".pid"].map { base + $0 }
            guard let spec = Self.read(base + ".spec").flatMap(InstanceSpecFile.init(line:))?.spec else {
                for file in files { unlink(file) }
                continue
            }
            // The pid must still be this instance's minicache (pids are reused).
            let pid = Self.read(base + ".pid").flatMap { Int32(String($0.prefix { $0.isNumber })) }
            if let pid, ChildProcess.commandLine(pid)?.contains(base + ".shfs") == true, let process = ChildProcess.adopt(pid: pid) {
                let ready = access(base + ".ready", F_OK) == 0
                children.withLock { $0[id] = Child(process: process, readyFile: base + ".ready", files: files, ready: ready) }
                found.append(AdoptedInstance(spec: spec, probe: ready ? .ready : .booting))
                logger.info("instance adopted", metadata: ["instance.id": "\(id)", "pid": "\(pid)"])
            } else {
                if !configuration.keepFiles { for file in files { unlink(file) } }
                found.append(AdoptedInstance(spec: spec, probe: .exited("ended while its agent was away")))
            }
        }
        return found
    }

    private static func write(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
    }

    private static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func milliseconds(_ seconds: Double) -> String {
        String(Double(Int(seconds * 10_000)) / 10)
    }

    public func signalsReady(_ id: String) -> Bool {
        ReadySignal.shared != nil && children.withLock { $0[id] != nil }
    }

    public func awaitReady(_ id: String, upTo seconds: Double) async {
        await ReadySignal.wait(for: children.withLock { $0[id]?.readyFile }, upTo: seconds)
    }

    public func probe(_ id: String) -> InstanceProbe {
        guard let child = children.withLock({ $0[id] }) else { return .exited("unknown instance") }
        if let exit = child.process.poll() {
            // A failure's last words (minicache's error) say why, before terminate() removes the log.
            guard case .exited(let code) = exit, code != 0,
                  let said = HostFile.read(logPath(of: id))?.split(whereSeparator: \.isNewline).last else { return .exited(exit.description) }
            return .exited("\(exit): \(said)")
        }
        if child.ready { return .ready }
        guard access(child.readyFile, F_OK) == 0 else { return .booting }
        children.withLock { $0[id]?.ready = true }
        return .ready
    }

    /// The process id of an instance (tests use it to inject faults).
    public func pid(of id: String) -> Int32? {
        children.withLock { $0[id]?.process.pid }
    }

    /// The path of an instance's log file.
    public func logPath(of id: String) -> String { "\(configuration.workDirectory)/\(id).log" }

    @discardableResult
    public func terminate(_ id: String, grace: Double) async -> String {
        guard let child = children.withLock({ $0.removeValue(forKey: id) }) else { return "unknown instance" }
        let exit = await child.process.stop(grace: grace)
        if !configuration.keepFiles {
            for file in child.files { unlink(file) }
        }
        return exit.description
    }

    public func kill(_ id: String) {
        children.withLock { $0[id] }?.process.signal(SIGKILL)
    }

    public func terminateAll(grace: Double) async {
        await terminateEach(children.withLock { Array($0.keys) }, grace: grace)
        volumes.removeSpares()
    }
}

extension ProcessBackend {
    /// `--listen ADDR:PORT`, or for an instance that serves HTTPS, `--listen-tls ADDR:PORT` with
    /// the certificate; then `--origin-ca` when the configuration has one.
    /// - Throws: ``ControlError`` `badConfiguration` when the spec asks for TLS and there is no
    ///   certificate.
    static func listenArguments(_ spec: InstanceSpec, configuration: ProcessBackendConfiguration) throws(ControlError) -> [String] {
        let originCA = configuration.originCA.map { ["--origin-ca", $0] } ?? []
        guard spec.tls else { return ["--listen", "\(spec.address):\(spec.port)"] + originCA }
        guard let tls = configuration.tls else {
            throw ControlError(.badConfiguration, "instance \(spec.id) should serve HTTPS but the backend has no certificate; give ProcessBackendConfiguration.tls")
        }
        return ["--listen-tls", "\(spec.address):\(spec.port)", "--tls-cert", tls.certificate, "--tls-key", tls.key] + originCA
    }
}

/// The `ID.spec` file of a detached instance: its spec as tab-separated fields on one line.
struct InstanceSpecFile {
    var spec: InstanceSpec

    var line: String {
        [spec.id, spec.site, spec.tenant, spec.address, String(spec.port), String(spec.adminPort), spec.origin, spec.tls ? "tls" : "plain"]
            .joined(separator: "\t") + "\n"
    }

    init(spec: InstanceSpec) { self.spec = spec }

    init?(line: String) {
        let first = line.split(separator: "\n").first ?? ""
        let fields = first.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        // Files written before the TLS field have 7 fields.
        guard fields.count == 7 || fields.count == 8, let port = Int(fields[4]), let adminPort = Int(fields[5]) else { return nil }
        spec = InstanceSpec(
            id: fields[0], site: fields[1], tenant: fields[2], address: fields[3], port: port, adminPort: adminPort, origin: fields[6],
            tls: fields.count == 8 && fields[7] == "tls"
        )
    }
}
