import EtcdClient
import Foundation
import LocalCA
import MiniCacheTesting
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// Certificates for an etcd that serves TLS, made by a local CA: the member's (for 127.0.0.1),
/// a client certificate, and a second CA with a client certificate of its own that the member
/// does not trust.
struct EtcdTLSFixture {
    let directory: String
    let ca: String
    let memberCertificate: String
    let memberKey: String
    let clientCertificate: String
    let clientKey: String
    let otherCA: String
    let strangerCertificate: String
    let strangerKey: String
    /// A member certificate that names only `localhost`, not the address.
    let localhostCertificate: String
    let localhostKey: String

    init() throws {
        let directory = TestEnvironment.temporaryDirectory("etcd-tls")
        self.directory = directory
        let authority = try LocalCertificateAuthority(name: "etcd test CA")
        let other = try LocalCertificateAuthority(name: "another CA")
        // etcd's own gateway connects to its gRPC port with the member's certificate: both usages.
        let member = try authority.issue(names: ["127.0.0.1"], usage: [.server, .client])
        let localhost = try authority.issue(names: ["localhost"], usage: [.server, .client])
        let client = try authority.issue(names: ["ecdn"], usage: .client)
        let stranger = try other.issue(names: ["ecdn"], usage: .client)
        func write(_ name: String, _ text: String) throws -> String {
            let path = "\(directory)/\(name)"
            try LocalCertificateAuthority.writeFile(path, text, mode: 0o600)
            return path
        }
        ca = try write("ca.pem", authority.certificatePEM)
        memberCertificate = try write("member.pem", member.certificatePEM)
        memberKey = try write("member-key.pem", member.privateKeyPEM)
        localhostCertificate = try write("localhost.pem", localhost.certificatePEM)
        localhostKey = try write("localhost-key.pem", localhost.privateKeyPEM)
        clientCertificate = try write("client.pem", client.certificatePEM)
        clientKey = try write("client-key.pem", client.privateKeyPEM)
        otherCA = try write("other-ca.pem", other.certificatePEM)
        strangerCertificate = try write("stranger.pem", stranger.certificatePEM)
        strangerKey = try write("stranger-key.pem", stranger.privateKeyPEM)
    }

    /// The member's TLS, requiring client certificates of the CA.
    var requiringClientCertificates: EtcdTestServer.Security { .init(certificate: memberCertificate, key: memberKey, clientCA: ca) }
    /// What a client of that member needs.
    var clientTLS: EtcdConfiguration.TLS { .init(caFile: ca, certificateFile: clientCertificate, keyFile: clientKey) }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// The etcd client over TLS against a real etcd started with `--cert-file`, `--key-file`,
/// `--trusted-ca-file` and `--client-cert-auth`: it works, and every way it can be set up wrong
/// is refused with a line that says which file and what to do.
@Suite(.enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason), .serialized)
struct EtcdTLSTests {
    @Test(arguments: EtcdTestServer.executables) func putGetLeasesAndWatchesOverTLSWithAClientCertificate(etcd executable: String) async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start(executable: executable, security: files.requiringClientCertificates, clientTLS: files.clientTLS)
        defer { etcd.destroy() }
        var configuration = try EtcdConfiguration(url: etcd.url)
        #expect(configuration.tls != nil)
        configuration.tls = files.clientTLS
        let client = try EtcdClient(configuration: configuration)
        var iterator = client.observe(prefix: "/w/").makeAsyncIterator()
        guard case .snapshot = await iterator.next() else { Issue.record("no snapshot first"); return }
        let revision = try await client.put("/w/a", value: Array("1".utf8))
        #expect(try await client.get("/w/a")?.text == "1")
        guard case .events(let events, let reached) = await iterator.next() else { Issue.record("no event over TLS"); return }
        #expect(events.map(\.keyValue.key) == ["/w/a"])
        #expect(reached == revision)
        let lease = try await client.grantLease(ttl: 5)
        try await client.put("/w/leased", value: [1], lease: lease.id)
        try await client.revokeLease(lease.id)
        #expect(try await client.get("/w/leased") == nil)
        await client.close()
    }

    /// The PING answers sit after the TLS handler (they read decrypted frames): a watch survives
    /// 600 requests on the same TLS connection, as it does in plain text.
    @Test(arguments: EtcdTestServer.executables) func aWatchOutlivesManyRequestsOnTheSameTLSConnection(etcd executable: String) async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start(executable: executable, security: files.requiringClientCertificates, clientTLS: files.clientTLS)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: files.clientTLS))
        try await EtcdClientTests.expectWatchOutlivesManyRequests(client)
        await client.close()
    }

    /// etcd serves gRPC over TLS through Go's HTTP/2 server, which sends no PING per request;
    /// behind a TLS proxy (a load balancer in front of etcd) its gRPC transport does, and they
    /// reach the client inside TLS: the PING answers after the TLS handler keep the watch up.
    @Test func aWatchOutlivesManyRequestsThroughATLSProxyThatPassesEtcdsPings() async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let proxy = try await TLSRelay.start(certificate: files.memberCertificate, key: files.memberKey, to: etcd.clientPort)
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [.init(host: "127.0.0.1", port: proxy.port)], tls: .init(caFile: files.ca)))
        try await EtcdClientTests.expectWatchOutlivesManyRequests(client)
        await client.close()
        try await proxy.channel.close()
    }

    @Test func aMemberSignedByAnotherCAIsRefusedWithTheCAFileNamed() async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start(security: files.requiringClientCertificates, clientTLS: files.clientTLS)
        defer { etcd.destroy() }
        let tls = EtcdConfiguration.TLS(caFile: files.otherCA, certificateFile: files.clientCertificate, keyFile: files.clientKey)
        // A refused member is reported when the request times out, with its last attempt's reason:
        // these tests wait out the timeout, so it is a margin of 10 s for a busy machine, not 30.
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: tls, requestTimeout: .seconds(10)))
        let error = try await #require(throws: EtcdError.self) { try await client.put("/x", value: [1]) }
        #expect(error.message.contains("TLS to etcd failed: the member's certificate is not signed by the CA in \(files.otherCA)"), "\(error.message)")
        await client.close()
    }

    @Test func aClientWithoutACertificateIsRefusedWhenEtcdRequiresOne() async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start(security: files.requiringClientCertificates, clientTLS: files.clientTLS)
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: .init(caFile: files.ca), requestTimeout: .seconds(10)))
        let error = try await #require(throws: EtcdError.self) { try await client.get("/x") }
        #expect(error.message.contains("the member requires a client certificate"), "\(error.message)")
        // A certificate from a CA the member does not trust is refused too, and named.
        let stranger = EtcdConfiguration.TLS(caFile: files.ca, certificateFile: files.strangerCertificate, keyFile: files.strangerKey)
        let other = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: stranger, requestTimeout: .seconds(10)))
        let refused = try await #require(throws: EtcdError.self) { try await other.get("/x") }
        #expect(refused.message.contains("the member refused the client certificate \(files.strangerCertificate)"), "\(refused.message)")
        await client.close()
        await other.close()
    }

    /// A member whose certificate names a host, not its address: refused at the address, and
    /// accepted when the client is told the name.
    @Test func aCertificateForAnotherNameIsRefusedUnlessTheServerNameIsGiven() async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let security = EtcdTestServer.Security(certificate: files.localhostCertificate, key: files.localhostKey, clientCA: nil)
        var named = EtcdConfiguration.TLS(caFile: files.ca)
        named.serverName = "localhost"
        let etcd = try await EtcdTestServer.start(security: security, clientTLS: named)
        defer { etcd.destroy() }
        let atAddress = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: .init(caFile: files.ca), requestTimeout: .seconds(10)))
        let error = try await #require(throws: EtcdError.self) { try await atAddress.get("/x") }
        #expect(error.message.contains("the member's certificate does not name the address it was reached at"), "\(error.message)")
        let byName = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: named))
        try await byName.put("/x", value: [7])
        #expect(try await byName.get("/x")?.value == [7])
        await atAddress.close()
        await byName.close()
    }

    @Test func aMemberWithoutTLSIsNamedAsSuch() async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], tls: .init(caFile: files.ca), requestTimeout: .seconds(10)))
        let error = try await #require(throws: EtcdError.self) { try await client.get("/x") }
        #expect(error.message.contains("it likely does not speak TLS on this port: use etcd:// endpoints"), "\(error.message)")
        await client.close()
    }

    @Test func missingOrUnusableFilesAreRefusedBeforeConnectingWithTheFileNamed() throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let endpoint = EtcdConfiguration.Endpoint(host: "127.0.0.1", port: 9)
        func refusal(_ tls: EtcdConfiguration.TLS) -> String {
            do {
                _ = try EtcdClient(configuration: EtcdConfiguration(endpoints: [endpoint], tls: tls))
                return "accepted"
            } catch {
                #expect(error.code == .badTLS)
                #expect(!error.message.contains("\n"))
                return error.message
            }
        }
        let missing = files.directory + "/absent.pem"
        #expect(refusal(.init(caFile: missing)) == "cannot read the etcd CA file \(missing): No such file or directory")
        #expect(refusal(.init(caFile: files.clientKey)).contains("the etcd CA file \(files.clientKey) "))
        #expect(refusal(.init(caFile: files.directory)) == "cannot read the etcd CA file \(files.directory): Is a directory")
        let empty = files.directory + "/empty.pem"
        try LocalCertificateAuthority.writeFile(empty, "")
        #expect(refusal(.init(caFile: empty)) == "the etcd CA file \(empty) is empty")
        #expect(refusal(.init(caFile: files.ca, certificateFile: files.clientCertificate)).contains("without its key file"))
        #expect(refusal(.init(caFile: files.ca, certificateFile: files.clientCertificate, keyFile: files.ca))
            == "the etcd client key \(files.ca) holds no unencrypted PEM private key")
        #expect(refusal(.init(caFile: files.ca, certificateFile: files.clientCertificate, keyFile: files.strangerKey))
            == "the etcd client key \(files.strangerKey) is not the key of the certificate \(files.clientCertificate)")
        #expect(refusal(files.clientTLS) == "accepted")
    }

    @Test func storeURLsSayWhetherTheyUseTLS() throws {
        #expect(try EtcdConfiguration(url: "etcd://127.0.0.1:2379").tls == nil)
        #expect(try EtcdConfiguration(url: "http://127.0.0.1:2379").tls == nil)
        let secure = try EtcdConfiguration(url: "https://127.0.0.1:2379,https://127.0.0.2:2379")
        #expect(secure.tls != nil)
        #expect(secure.endpoints.map(\.description) == ["127.0.0.1:2379", "127.0.0.2:2379"])
        #expect(secure.url == "https://127.0.0.1:2379,127.0.0.2:2379")
        #expect(try EtcdConfiguration(url: secure.url).endpoints == secure.endpoints)
        let mixed = #expect(throws: EtcdError.self) { try EtcdConfiguration(url: "https://127.0.0.1:2379,http://127.0.0.2:2379") }
        #expect(mixed?.message.contains("mixes https://") == true)
    }

    /// `ecdn state` (the real executable) over TLS, and its refusals: one line naming the file.
    @Test func ecdnStateTalksTLSAndRefusesABadFileInOneLine() async throws {
        let files = try EtcdTLSFixture()
        defer { files.remove() }
        let etcd = try await EtcdTestServer.start(security: files.requiringClientCertificates, clientTLS: files.clientTLS)
        defer { etcd.destroy() }
        let tls = ["--store", etcd.url, "--etcd-ca", files.ca, "--etcd-cert", files.clientCertificate, "--etcd-key", files.clientKey]
        let initialised = try await StateCommandTests.state(["init"] + tls + ["--origin", "http://127.0.0.1:9", "--sites", "1"])
        #expect(initialised.status == 0, "\(initialised.error)")
        let dump = try await StateCommandTests.state(["dump"] + tls)
        #expect(dump.status == 0, "\(dump.error)")
        #expect(dump.output.contains("/ecdn/sites/site1 "))

        let missing = files.directory + "/absent-key.pem"
        let badKey = try await StateCommandTests.state(["dump", "--store", etcd.url, "--etcd-ca", files.ca, "--etcd-cert", files.clientCertificate, "--etcd-key", missing])
        #expect(badKey.status == 1)
        #expect(badKey.error == "ecdn: error: cannot read the etcd client key \(missing): No such file or directory\n")
        let plain = try await StateCommandTests.state(["dump", "--store", "etcd://127.0.0.1:\(etcd.clientPort)", "--etcd-ca", files.ca])
        #expect(plain.status != 0)
        #expect(plain.error.contains("--etcd-ca needs TLS: write the store as https://"))
        let plainToTLS = try await StateCommandTests.state(["dump", "--store", "etcd://127.0.0.1:\(etcd.clientPort)"])
        #expect(plainToTLS.status != 0)
        #expect(plainToTLS.error.contains("write the store as https:// (TLS)"), "\(plainToTLS.error)")
        let noCertificate = try await StateCommandTests.state(["dump", "--store", etcd.url, "--etcd-ca", files.ca])
        #expect(noCertificate.status != 0)
        #expect(noCertificate.error.contains("the member requires a client certificate"), "\(noCertificate.error)")
    }
}

/// A TLS-terminating TCP relay on 127.0.0.1 in front of a plain-text port, as a TLS proxy in
/// front of etcd is: every connection it accepts gets its own connection to the target.
struct TLSRelay {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(certificate: String, key: String, to target: Int) async throws -> TLSRelay {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }, privateKey: .file(key)
        )
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop).connect(host: "127.0.0.1", port: target).flatMapThrowing { outbound in
                    try outbound.pipeline.syncOperations.addHandler(Relay(partner: inbound))
                    try inbound.pipeline.syncOperations.addHandlers([NIOSSLServerHandler(context: context), Relay(partner: outbound)])
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TLSRelay(channel: channel)
    }

    /// Passes what one side reads to the other, and closes the other when one side closes.
    private final class Relay: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let partner: any Channel
        init(partner: any Channel) { self.partner = partner }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            partner.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            partner.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
