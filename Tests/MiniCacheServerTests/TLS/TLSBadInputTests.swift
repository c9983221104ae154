import Foundation
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

/// Clients that are not TLS, stop mid-handshake, offer only old protocols or ciphers, or send
/// oversized records: each connection is closed with the right alert (within the header timeout
/// when the client goes quiet), and other clients are served meanwhile.
@Suite(.serialized) struct TLSBadInputTests {
    /// A TLS alert record: level, description.
    static func alerts(in bytes: [UInt8]) -> [(level: UInt8, description: UInt8)] {
        var found: [(UInt8, UInt8)] = []
        var i = 0
        while bytes.count - i >= 7 {
            let length = Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            if bytes[i] == 0x15, length == 2 { found.append((bytes[i + 5], bytes[i + 6])) }
            i += 5 + length
        }
        return found
    }

    static let recordOverflow: UInt8 = 22
    static let decodeError: UInt8 = 50

    /// Sends `bytes` on a plain TCP connection to the TLS port; returns what came back before the
    /// server closed (nil when it did not close within the safety margin).
    static func rawExchange(port: Int, _ bytes: [UInt8]) async throws -> [UInt8]? {
        let connection = try await TestConnection(port: port, timeout: 15)
        await connection.send(bytes)
        let (received, closed) = await connection.readUntilClosed()
        return closed ? received : nil
    }

    static func servesNormally(_ server: TestServer, _ fixture: TLSFixture) async throws {
        let client = try await TLSTestClient.connect(port: server.tlsPort, alpn: ["http/1.1"], trust: try fixture.trustRoots())
        defer { Task { await client.close() } }
        #expect(try await TLSServingTests.get(client, "/small.bin").status == 200)
    }

    @Test("bytes that are not TLS get a fatal alert, or are closed on, and do not affect others", arguments: [false, true])
    func garbage(oneCertificate: Bool) async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture, { if oneCertificate { $0.certificates.removeLast() } }) { server in
            let http = try #require(try await Self.rawExchange(port: server.tlsPort, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
            #expect(Self.alerts(in: http).allSatisfy { $0.level == 2 })
            // A handshake record whose content is not a ClientHello.
            let record: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40] + Array(repeating: 0xab, count: 0x40)
            let answer = try #require(try await Self.rawExchange(port: server.tlsPort, record))
            #expect(Self.alerts(in: answer).first?.level == 2, "\(answer)")
            try await Self.servesNormally(server, fixture)
        }
    }

    @Test("a record longer than TLS allows gets record_overflow (RFC 8446 §5.1)", arguments: [false, true])
    func oversizedRecord(oneCertificate: Bool) async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture, { if oneCertificate { $0.certificates.removeLast() } }) { server in
            let record: [UInt8] = [0x16, 0x03, 0x01, 0x48, 0x01] + Array(repeating: 0x01, count: 64)
            let answer = try #require(try await Self.rawExchange(port: server.tlsPort, record))
            #expect(Self.alerts(in: answer).first?.description == Self.recordOverflow, "\(answer)")
            try await Self.servesNormally(server, fixture)
        }
    }

    @Test("a client that stops in the middle of its handshake is closed at the header timeout")
    func stopsMidHandshake() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let connection = try await TestConnection(port: server.tlsPort, timeout: 15)
            // The start of a ClientHello record that promises 512 bytes.
            await connection.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
            let started = ContinuousClock.now
            #expect(await connection.readUntilClosed().closed)
            // The header timeout is 2 s here; 12 s is the safety margin of a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(12))
            try await Self.servesNormally(server, fixture)
        }
    }

    @Test("a client offering only TLS 1.0/1.1 gets protocol_version; one with only old ciphers gets handshake_failure")
    func oldProtocolsAndCiphers() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let old = try await TLSTestClient.connect(port: server.tlsPort, trust: nil) {
                $0.minimumTLSVersion = .tlsv1
                $0.maximumTLSVersion = .tlsv11
            }
            #expect(!old.handshakeDone)
            #expect(old.handshakeError?.uppercased().contains("PROTOCOL_VERSION") == true, "\(old.handshakeError ?? "no error")")
            #expect(await old.waitForClose())
            let weak = try await TLSTestClient.connect(port: server.tlsPort, trust: nil) {
                $0.maximumTLSVersion = .tlsv12
                $0.cipherSuites = "AES128-SHA:DES-CBC3-SHA"
            }
            #expect(!weak.handshakeDone)
            #expect(weak.handshakeError?.uppercased().contains("HANDSHAKE_FAILURE") == true, "\(weak.handshakeError ?? "no error")")
            try await Self.servesNormally(server, fixture)
        }
    }

    @Test(
        "1,000 misbehaving TLS clients at once: each is closed, and a well-behaved client is served all along",
        .enabled(if: ProcessInfo.processInfo.environment["MINICACHE_SLOW_TESTS"] == "1", "a load test: set MINICACHE_SLOW_TESTS=1")
    )
    func thousandBadClients() async throws {
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        try await TLSServingTests.withServer(fixture) { server in
            let payloads: [[UInt8]] = [
                Array("GET / HTTP/1.1\r\n\r\n".utf8),
                [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03],
                [0x16, 0x03, 0x01, 0x48, 0x01] + Array(repeating: 1, count: 64),
                [0x16, 0x03, 0x01, 0x00, 0x40] + Array(repeating: 0xab, count: 0x40),
            ]
            let group = MultiThreadedEventLoopGroup.singleton
            var channels: [any Channel] = []
            for i in 0..<1000 {
                let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: server.tlsPort).get()
                channel.writeAndFlush(ByteBuffer(bytes: payloads[i % payloads.count]), promise: nil)
                channels.append(channel)
            }
            let client = try await TLSTestClient.connect(port: server.tlsPort, alpn: ["http/1.1"], trust: try fixture.trustRoots())
            for _ in 0..<200 {
                #expect(try await TLSServingTests.get(client, "/small.bin").status == 200)
            }
            await client.close()
            for channel in channels {
                // Quiet ones close at the 2 s header timeout; 20 s is the safety margin.
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await channel.closeFuture.get() }
                    tasks.addTask {
                        try await Task.sleep(for: .seconds(20))
                        throw TestClientError(description: "a bad client was not closed")
                    }
                    try await tasks.next()
                    tasks.cancelAll()
                }
            }
        }
    }
}
