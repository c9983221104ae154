import LocalCA
import Logging
import MiniCacheServer
import MiniCacheTesting
import NIOHTTP1
import NIOSSL
import Testing

/// `--origin https://...`: misses are fetched over TLS with the origin's certificate checked
/// against `--origin-ca` (or the system's roots); a certificate that fails the check gets 502 with
/// the reason in the log, and nothing is ever sent to the origin in plain text.
@Suite(.serialized) struct OriginTLSTests {
    /// A TLS server context for `issued`.
    static func serverContext(_ issued: LocalCertificateAuthority.Issued) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(issued.certificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(issued.privateKeyPEM.utf8), format: .pem)
        return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
    }

    static func origin(_ issued: LocalCertificateAuthority.Issued) async throws -> TestOrigin {
        try await TestOrigin.answering(tls: try Self.serverContext(issued)) { request, _ in
            TestOrigin.Answer(.ok, [("Cache-Control", "max-age=60"), ("Content-Type", "text/plain")], body: "from \(request.path)")
        }
    }

    @Test("a miss is fetched from an https:// origin whose certificate --origin-ca trusts, then served from the volume")
    func fetchesOverTLS() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let origin = try await Self.origin(try fixture.authority.issue(names: ["127.0.0.1"]))
        defer { Task { await origin.stop() } }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = origin.url; $0.originCA = fixture.caPath }) { server in
            #expect(origin.url.hasPrefix("https://"))
            let first = try await TestConnection.get(port: server.port, "/live/a.ts")
            #expect(first.status == 200)
            #expect(first.text == "from /live/a.ts")
            try await PullThroughTests.waitForStored(server, 1)
            let second = try await TestConnection.get(port: server.port, "/live/a.ts")
            #expect(second.text == "from /live/a.ts")
            #expect(origin.requestCount == 1)
            #expect(origin.requests.first?.header("Host") == "127.0.0.1:\(origin.port)")
        }
    }

    enum BadCertificate: String, CaseIterable, Sendable {
        case expired, wrongName, selfSigned
    }

    @Test("an origin with an expired, wrong-name or self-signed certificate gets 502 with the reason in the log, never plain text", arguments: BadCertificate.allCases)
    func badOriginCertificate(_ kind: BadCertificate) async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let (issued, reason): (LocalCertificateAuthority.Issued, String) =
            switch kind {
            case .expired: (try fixture.authority.issue(names: ["127.0.0.1"], days: 0), "expired")
            case .wrongName: (try fixture.authority.issue(names: ["other.example"]), "does not name this host")
            case .selfSigned: (try LocalCertificateAuthority.selfSigned(names: ["127.0.0.1"]), "not signed by a trusted CA")
            }
        let origin = try await Self.origin(issued)
        defer { Task { await origin.stop() } }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        let log = LogRecorder()
        try await TestServer.with(volume: volume.path, logger: log.logger(level: .warning), { $0.origin = origin.url; $0.originCA = fixture.caPath }) { server in
            let response = try await TestConnection.get(port: server.port, "/live/a.ts")
            #expect(response.status == 502)
            #expect(origin.requestCount == 0)
            let failure = log.recorded.first { $0.contains("origin fetch failed") }
            #expect(failure?.contains(reason) == true, "\(log.recorded)")
            // A second miss fails the same way: no retry in plain text.
            #expect(try await TestConnection.get(port: server.port, "/live/b.ts").status == 502)
            #expect(origin.requestCount == 0)
        }
    }

    @Test("a --origin-ca that is not a PEM file is refused at start-up, naming it")
    func badCAFile() throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let garbage = fixture.directory + "/not-a-ca.pem"
        try LocalCertificateAuthority.writeFile(garbage, "hello\n")
        let configuration = TestServer.configuration { $0.origin = "https://127.0.0.1:1"; $0.originCA = garbage }
        let error = #expect(throws: MiniCacheError.self) {
            _ = try MiniCacheServer(volumePath: TestVolume.shared.path, configuration: configuration)
        }
        #expect(error?.message.contains(garbage) == true, "\(error?.message ?? "")")
    }
}
