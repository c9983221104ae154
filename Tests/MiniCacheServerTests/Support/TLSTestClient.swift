import Foundation
import LocalCA
import MiniCacheTesting
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Certificates for the TLS tests: a local CA and server certificates, as PEM files in a
/// temporary directory.
struct TLSFixture {
    let directory: String
    let authority: LocalCertificateAuthority
    /// `localhost` and `127.0.0.1`: the default certificate.
    let main: TLSListenerFiles
    /// `tenant-b.test` and `*.tenant-b.test`.
    let tenant: TLSListenerFiles

    struct TLSListenerFiles {
        var certificate: String
        var key: String
    }

    init() throws {
        self.directory = NSTemporaryDirectory() + "minicache-tls-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        self.authority = try LocalCertificateAuthority()
        self.main = try Self.write(self.authority.issue(names: ["localhost", "127.0.0.1"]), in: self.directory, as: "main")
        self.tenant = try Self.write(self.authority.issue(names: ["tenant-b.test", "*.tenant-b.test"]), in: self.directory, as: "tenant")
        try LocalCertificateAuthority.writeFile(self.caPath, self.authority.certificatePEM)
    }

    var caPath: String { self.directory + "/ca.pem" }

    static func write(_ issued: LocalCertificateAuthority.Issued, in directory: String, as stem: String) throws -> TLSListenerFiles {
        let files = TLSListenerFiles(certificate: "\(directory)/\(stem).pem", key: "\(directory)/\(stem)-key.pem")
        try LocalCertificateAuthority.writeFile(files.certificate, issued.certificatePEM)
        try LocalCertificateAuthority.writeFile(files.key, issued.privateKeyPEM, mode: 0o600)
        return files
    }

    func remove() { try? FileManager.default.removeItem(atPath: self.directory) }

    /// The CA as a trust root for NIOSSL clients.
    func trustRoots() throws -> NIOSSLTrustRoots {
        .certificates(try NIOSSLCertificate.fromPEMFile(self.caPath))
    }
}

/// One TLS connection from a NIO client, with the raw bytes it receives after the handshake.
final class TLSTestClient: Sendable {
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex<[UInt8]>([])
        let handshake = Mutex<(done: Bool, protocol: String?, error: String?)>((false, nil, nil))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = Self.unwrapInboundIn(data)
            self.received.withLock { $0 += buffer.readableBytesView }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let tls = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = tls {
                self.handshake.withLock { $0 = (true, negotiated, nil) }
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.handshake.withLock { if $0.error == nil { $0.error = "\(error)" } }
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    private let collector: Collector

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects and waits for the handshake (or its failure, see ``handshakeError``).
    static func connect(
        port: Int,
        serverName: String? = "localhost",
        alpn: [String] = ["h2", "http/1.1"],
        trust: NIOSSLTrustRoots?,
        _ change: (inout TLSConfiguration) -> Void = { _ in }
    ) async throws -> TLSTestClient {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = alpn
        if let trust { configuration.trustRoots = trust } else { configuration.certificateVerification = .none }
        change(&configuration)
        let context = try NIOSSLContext(configuration: configuration)
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandlers([handler, collector])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        let client = TLSTestClient(channel: channel, collector: collector)
        _ = await client.wait(timeout: 10) { _ in collector.handshake.withLock { $0.done || $0.error != nil } || !channel.isActive }
        return client
    }

    var handshakeDone: Bool { self.collector.handshake.withLock { $0.done } }
    var negotiatedProtocol: String? { self.collector.handshake.withLock { $0.protocol } }
    var handshakeError: String? { self.collector.handshake.withLock { $0.error } }
    var received: [UInt8] { self.collector.received.withLock { $0 } }
    var isClosed: Bool { !self.channel.isActive }

    /// The certificate the server presented.
    func peerCertificate() async throws -> NIOSSLCertificate? {
        let channel = self.channel
        return try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
        }.get()
    }

    func send(_ bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    func send(_ text: String) async throws { try await self.send(Array(text.utf8)) }

    /// Waits until `done` holds for the bytes received (true) or `timeout` seconds pass (false).
    @discardableResult
    func wait(timeout: Double = 10, until done: ([UInt8]) -> Bool) async -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < end {
            if done(self.received) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return done(self.received)
    }

    /// Waits until the server closes the connection; false when it is still open after `timeout`.
    func waitForClose(timeout: Double = 10) async -> Bool {
        await self.wait(timeout: timeout) { _ in self.isClosed }
    }

    func close() async {
        try? await self.channel.close().get()
    }

    /// One HTTP/1.1 response read from the bytes received (after the handshake); nil until it is
    /// complete (Content-Length framing).
    static func parseHTTP1(_ bytes: [UInt8]) -> TestResponse? {
        guard let end = TestConnection.find(Array("\r\n\r\n".utf8), in: bytes) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let status = Int(lines[0].split(separator: " ")[1]) else { return nil }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        return TestResponse(status: status, headers: headers, body: Array(bytes[(end + 4)..<(end + 4 + length)]))
    }
}
