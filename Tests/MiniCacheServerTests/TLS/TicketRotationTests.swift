import Foundation
import MiniCacheServer
import MiniCacheTesting
import Testing

/// Session-ticket key rotation (`--tls-ticket-rotation`): a ticket resumes its session until the
/// keys are replaced, then the client gets a full handshake.
@Suite(.serialized) struct TicketRotationTests {
    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// One TLS 1.2 handshake with `openssl s_client` (TLS 1.2 sends the ticket inside the
    /// handshake); `sessionIn` offers a saved session. Returns whether the server resumed it.
    static func handshake(port: Int, ca: String, sessionOut: String? = nil, sessionIn: String? = nil) async throws -> Bool {
        let arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-tls1_2", "-CAfile", ca]
            + (sessionOut.map { ["-sess_out", $0] } ?? []) + (sessionIn.map { ["-sess_in", $0] } ?? [])
        let text = try await ProcessRun.run(try #require(Self.openssl), arguments).output
        #expect(text.contains("Verify return code: 0 (ok)"), "\(text.prefix(400))")
        return text.contains("Reused, TLSv1.2")
    }

    @Test(
        "a session ticket resumes until the rotation period has passed, then the keys are new and the handshake is full",
        .enabled(if: TicketRotationTests.openssl != nil, "needs openssl")
    )
    func ticketsRotate() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture, {
            $0.certificates = [.init(certificate: fixture.main.certificate, key: fixture.main.key)]
            $0.ticketKeyRotation = 3600
        }) { server in
            let store = try #require(server.server.context.certificates)
            let session = fixture.directory + "/session.pem"
            #expect(try await !Self.handshake(port: server.tlsPort, ca: fixture.caPath, sessionOut: session))
            #expect(try await Self.handshake(port: server.tlsPort, ca: fixture.caPath, sessionIn: session))

            // Not due yet: same keys, the ticket still resumes.
            let generation = store.current.generation
            store.checkForChanges(now: .now + .seconds(3000))
            #expect(store.current.generation == generation)
            #expect(try await Self.handshake(port: server.tlsPort, ca: fixture.caPath, sessionIn: session))

            // Due: new keys; the old ticket gets a full handshake, a new one resumes.
            store.checkForChanges(now: .now + .seconds(3601))
            #expect(store.current.generation == generation + 1)
            #expect(try await !Self.handshake(port: server.tlsPort, ca: fixture.caPath, sessionIn: session))
            let fresh = fixture.directory + "/fresh.pem"
            #expect(try await !Self.handshake(port: server.tlsPort, ca: fixture.caPath, sessionOut: fresh))
            #expect(try await Self.handshake(port: server.tlsPort, ca: fixture.caPath, sessionIn: fresh))
        }
    }

    @Test("without a rotation period the file watch never replaces the keys")
    func noRotationByDefault() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let store = try #require(server.server.context.certificates)
            let generation = store.current.generation
            store.checkForChanges(now: .now + .seconds(10 * 86_400))
            #expect(store.current.generation == generation)
        }
    }
}
