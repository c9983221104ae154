import HTTPToolkit
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

extension MiniCacheServer {
    /// A fatal `unrecognized_name` alert (RFC 8446 §6.2), for a server name no certificate has.
    static let unrecognizedNameAlert: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]

    /// Binds the TLS listener: SNI picks the certificate, the handshake must complete within the
    /// header timeout, then ALPN picks HTTP/2 or HTTP/1.1.
    func bindTLS(
        _ tls: TLSListenerConfiguration,
        certificates: CertificateStore,
        dateCaches: [ObjectIdentifier: NIOLoopBound<DateCache>]
    ) async throws -> any Channel {
        let server = self.context
        let limit = self.configuration.maxConnections
        let headerTimeout = self.configuration.headerTimeout
        let logger = self.context.logger
        return try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 512 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard server.connections.admit(channel, limit: limit) else {
                        server.stats.connectionRefused()
                        channel.close(promise: nil)
                        return
                    }
                    let dates = dateCaches[ObjectIdentifier(channel.eventLoop)]!.value
                    let handshake = TLSHandshakeHandler(timeout: headerTimeout, logger: logger) { context, negotiated in
                        try Self.addHTTPHandlers(negotiated, tls: tls, server: server, dates: dates, context: context)
                    }
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(handshake)
                    guard certificates.selectsByName else {
                        try pipeline.addHandler(NIOSSLServerHandler(context: certificates.current.contexts[0]), position: .before(handshake))
                        return
                    }
                    let sni = ByteToMessageHandler(
                        SNIHandler { result in
                            let name: String? = if case .hostname(let host) = result { host } else { nil }
                            guard let context = certificates.context(for: name) else {
                                logger.debug("refused an unknown server name", metadata: ["tls.sni": "\(name ?? "")"])
                                channel.writeAndFlush(ByteBuffer(bytes: Self.unrecognizedNameAlert)).whenComplete { _ in
                                    channel.close(promise: nil)
                                }
                                return channel.eventLoop.makeSucceededVoidFuture()
                            }
                            return channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .before(handshake))
                            }
                        }
                    )
                    try pipeline.addHandler(sni, position: .before(handshake))
                    let guardHandler = ClientHelloGuard { context in
                        let pipeline = context.pipeline.syncOperations
                        try pipeline.addHandler(NIOSSLServerHandler(context: certificates.current.contexts[0]), position: .before(handshake))
                        pipeline.removeHandler(sni, promise: nil)
                    }
                    try pipeline.addHandler(guardHandler, position: .before(sni))
                }
            }
            .bind(to: Self.socketAddress(host: tls.host, port: tls.port))
            .get()
    }

    /// The handlers of a connection whose handshake completed, after `context`'s handler.
    static func addHTTPHandlers(
        _ negotiated: String?,
        tls: TLSListenerConfiguration,
        server: ServerContext,
        dates: DateCache,
        context: ChannelHandlerContext
    ) throws {
        let pipeline = context.pipeline.syncOperations
        guard negotiated == "h2" else {
            try pipeline.addHandler(HTTPConnectionHandler(server: server, dates: dates, largeObjects: .read), position: .after(context.handler))
            return
        }
        let http2 = HTTP2ConnectionHandler(
            server: server,
            dates: dates,
            maxConcurrentStreams: tls.maxConcurrentStreams,
            maxHeaderListSize: tls.maxHeaderListSize
        )
        try pipeline.addHandler(http2, position: .after(context.handler))
    }

    /// The TLS client of `https://` origins: TLS 1.2 or 1.3, certificates checked against
    /// `caFile` (PEM) or the system's trust roots, and the origin's host name or address.
    /// - Throws: ``MiniCacheError`` `certificate` when the CA file cannot be loaded.
    static func originTLS(caFile: String?) throws(MiniCacheError) -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        do {
            if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
            return try NIOSSLContext(configuration: tls)
        } catch {
            let detail = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
            throw MiniCacheError(.certificate, "cannot load --origin-ca \(caFile ?? "(system roots)"): \(detail); give a PEM file of CA certificates", underlying: error)
        }
    }
}
