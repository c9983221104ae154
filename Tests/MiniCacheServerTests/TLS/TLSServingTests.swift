import Foundation
import LocalCA
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOSSL
import Testing

/// HTTPS: the TLS listener serves the volume as the plain one does, picks certificates by server
/// name, and reloads them without a restart.
@Suite(.serialized) struct TLSServingTests {
    /// Runs `body` against a server with a TLS listener on the fixture's certificates.
    static func withServer(
        _ fixture: TLSFixture,
        volume: String = TestVolume.shared.path,
        _ change: (inout TLSListenerConfiguration) -> Void = { _ in },
        server configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws {
        var tls = TLSListenerConfiguration(
            host: "127.0.0.1",
            port: 0,
            certificates: [
                .init(certificate: fixture.main.certificate, key: fixture.main.key),
                .init(certificate: fixture.tenant.certificate, key: fixture.tenant.key),
            ]
        )
        change(&tls)
        try await TestServer.with(
            volume: volume,
            {
                $0.tls = tls
                $0.headerTimeout = .seconds(2)
                configure(&$0)
            },
            body
        )
    }

    static func get(_ client: TLSTestClient, _ target: String, headers: [String] = []) async throws -> TestResponse {
        let before = client.received.count
        try await client.send("GET \(target) HTTP/1.1\r\nHost: localhost\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        await client.wait { TLSTestClient.parseHTTP1(Array($0[before...])) != nil }
        return try #require(TLSTestClient.parseHTTP1(Array(client.received[before...])), "no complete response to \(target)")
    }

    static func names(_ certificate: NIOSSLCertificate?) -> [String] {
        guard let certificate else { return [] }
        return certificate._subjectAlternativeNames().compactMap {
            $0.nameType == .dnsName ? String(decoding: $0.contents, as: UTF8.self) : nil
        }
    }

    @Test("HTTPS with HTTP/1.1 (ALPN) serves small, streamed and ranged objects like plain HTTP")
    func httpsServesTheVolume() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await Self.withServer(fixture) { server in
            let client = try await TLSTestClient.connect(port: server.tlsPort, alpn: ["http/1.1"], trust: try fixture.trustRoots())
            defer { Task { await client.close() } }
            #expect(client.handshakeDone, "handshake: \(client.handshakeError ?? "no answer")")
            #expect(client.negotiatedProtocol == "http/1.1")
            let small = try await Self.get(client, "/small.bin")
            #expect(small.status == 200)
            #expect(small.body == TestVolume.bytes(1024))
            let plain = try await TestConnection.get(port: server.port, "/small.bin")
            #expect(small.header("ETag") == plain.header("ETag"))
            #expect(small.header("Content-Type") == plain.header("Content-Type"))
            // 3 MiB: read from the volume into buffers, since TLS cannot send a file region.
            let large = try await Self.get(client, "/large.bin")
            #expect(large.status == 200)
            #expect(large.body == TestVolume.bytes(3 << 20, seed: 3))
            let range = try await Self.get(client, "/large.bin", headers: ["Range: bytes=100-199"])
            #expect(range.status == 206)
            #expect(range.header("Content-Range") == "bytes 100-199/\(3 << 20)")
            #expect(range.body == Array(TestVolume.bytes(3 << 20, seed: 3)[100..<200]))
        }
    }

    @Test("the server name (SNI) picks the tenant's certificate, wildcards included; no name gets the first")
    func serverNamePicksTheCertificate() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await Self.withServer(fixture) { server in
            for (name, expected) in [("tenant-b.test", "tenant-b.test"), ("cdn.tenant-b.test", "tenant-b.test"), ("localhost", "localhost")] {
                let client = try await TLSTestClient.connect(port: server.tlsPort, serverName: name, trust: try fixture.trustRoots())
                #expect(client.handshakeDone, "\(name): \(client.handshakeError ?? "no answer")")
                #expect(Self.names(try await client.peerCertificate()).first == expected, "\(name)")
                await client.close()
            }
            let anonymous = try await TLSTestClient.connect(port: server.tlsPort, serverName: nil, trust: nil)
            #expect(Self.names(try await anonymous.peerCertificate()).first == "localhost")
            await anonymous.close()
        }
    }

    @Test("an unknown server name gets the default certificate, or an unrecognized_name alert when configured")
    func unknownServerName() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await Self.withServer(fixture) { server in
            let client = try await TLSTestClient.connect(port: server.tlsPort, serverName: "other.example", trust: nil)
            #expect(client.handshakeDone)
            #expect(Self.names(try await client.peerCertificate()).first == "localhost")
            await client.close()
        }
        try await Self.withServer(fixture, { $0.unknownServerName = .reject }) { server in
            let refused = try await TLSTestClient.connect(port: server.tlsPort, serverName: "other.example", trust: nil)
            #expect(!refused.handshakeDone)
            #expect(refused.handshakeError?.uppercased().contains("UNRECOGNIZED_NAME") == true, "\(refused.handshakeError ?? "no error")")
            #expect(await refused.waitForClose())
            let known = try await TLSTestClient.connect(port: server.tlsPort, serverName: "tenant-b.test", trust: try fixture.trustRoots())
            #expect(known.handshakeDone)
            await known.close()
        }
    }

    @Test("certificates reload on remount; a bad PEM is refused in one line naming the file and the old certificate keeps serving")
    func certificatesReload() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await Self.withServer(fixture) { server in
            func serial() async throws -> [UInt8] {
                let client = try await TLSTestClient.connect(port: server.tlsPort, trust: try fixture.trustRoots())
                defer { Task { await client.close() } }
                return try #require(try await client.peerCertificate()).serialNumber
            }
            let first = try await serial()
            _ = try TLSFixture.write(try fixture.authority.issue(names: ["localhost"]), in: fixture.directory, as: "main")
            try server.server.remount()
            let second = try await serial()
            #expect(second != first)

            try LocalCertificateAuthority.writeFile(fixture.main.certificate, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
            let error = #expect(throws: MiniCacheError.self) { try server.server.remount() }
            #expect(error?.code == .certificate)
            #expect(error?.message.contains(fixture.main.certificate) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("\n") == false)
            #expect(try await serial() == second)
        }
    }

    @Test("start-up refuses a bad certificate, a missing file and a key that does not match, naming the file")
    func startupRefusesBadFiles() throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let garbage = fixture.directory + "/garbage.pem"
        try LocalCertificateAuthority.writeFile(garbage, "hello\n")
        let cases: [(TLSListenerConfiguration.CertificateFiles, String)] = [
            (.init(certificate: garbage, key: fixture.main.key), garbage),
            (.init(certificate: fixture.directory + "/missing.pem", key: fixture.main.key), fixture.directory + "/missing.pem"),
            (.init(certificate: fixture.main.certificate, key: garbage), garbage),
            (.init(certificate: fixture.main.certificate, key: fixture.tenant.key), fixture.tenant.key),
        ]
        for (files, named) in cases {
            let configuration = TestServer.configuration { $0.tls = TLSListenerConfiguration(host: "127.0.0.1", port: 0, certificates: [files]) }
            let error = #expect(throws: MiniCacheError.self) {
                _ = try MiniCacheServer(volumePath: TestVolume.shared.path, configuration: configuration)
            }
            #expect(error?.code == .certificate)
            #expect(error?.message.contains(named) == true, "\(error?.message ?? "")")
        }
    }

    @Test("an HTTPS-only server serves no plain HTTP")
    func httpsOnly() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        var tls = TLSListenerConfiguration(host: "127.0.0.1", port: 0, certificates: [.init(certificate: fixture.main.certificate, key: fixture.main.key)])
        tls.http2 = false
        try await TestServer.with(volume: TestVolume.shared.path, { $0.tls = tls; $0.listensPlain = false }) { server in
            #expect(server.port == server.tlsPort)
            let client = try await TLSTestClient.connect(port: server.tlsPort, trust: try fixture.trustRoots())
            #expect(client.negotiatedProtocol == "http/1.1")
            #expect(try await Self.get(client, "/").status == 200)
            await client.close()
        }
    }
}
