import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small HTTP/1.1 server over NIOHTTP1's request decoder that hands each complete request to
/// an ``HTTPResponder``: keep-alive, pipelined requests answered in order, malformed requests
/// answered `400`, over TLS when the configuration has a server context; each response is
/// encoded by the server itself and written in one flush. For the admin listener, the control
/// plane's router and API, the demo origin and the tests' origins; not the data plane's request
/// path.
package final class HTTPServer: Sendable {
    /// The listening channel.
    package let channel: any Channel
    /// The bound address (with the real port when 0 was asked for).
    package let localAddress: SocketAddress
    /// `https` when the listener serves TLS, else `http`.
    package let scheme: HTTPURL.Scheme

    private init(channel: any Channel, localAddress: SocketAddress, scheme: HTTPURL.Scheme) {
        self.channel = channel
        self.localAddress = localAddress
        self.scheme = scheme
    }

    /// Binds `configuration.host:port` and serves `responder`, each request in a task.
    /// - Throws: ``HTTPServerError`` when the address cannot be bound.
    package static func bind(
        _ configuration: HTTPServerConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        responder: @escaping HTTPResponder
    ) async throws(HTTPServerError) -> HTTPServer {
        try await bind(configuration, group: group, logger: logger, immediate: { request in .later { await responder(request) } })
    }

    /// Binds `configuration.host:port` and serves `immediate`: what it answers at once is written
    /// from the event loop; what it defers runs in a task.
    /// - Throws: ``HTTPServerError`` when the address cannot be bound.
    package static func bind(
        _ configuration: HTTPServerConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        immediate responder: @escaping HTTPImmediateResponder
    ) async throws(HTTPServerError) -> HTTPServer {
        let channel: any Channel
        let tls = configuration.tls
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: configuration.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPResponderHandler(responder: responder, configuration: configuration, logger: logger))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            throw HTTPServerError(
                "cannot listen on \(HostPort(host: configuration.host, port: configuration.port)): \(error); choose another address or port",
                cause: error)
        }
        guard let address = channel.localAddress else {
            try? await channel.close()
            throw HTTPServerError("\(configuration.host):\(configuration.port) has no local address after bind")
        }
        return HTTPServer(channel: channel, localAddress: address, scheme: tls == nil ? .http : .https)
    }

    /// The bound `host:port`.
    package var address: HostPort { HostPort(host: localAddress.ipAddress ?? "127.0.0.1", port: localAddress.port ?? 0) }

    /// `http://host:port` (`https://` over TLS) of the listener.
    package var url: String { "\(scheme.rawValue)://\(address)" }

    /// The listener's base URL with `path`.
    package func url(path: String) -> HTTPURL { HTTPURL(scheme: scheme, host: address.host, port: address.port, path: path) }

    /// Stops accepting connections; connections already open finish their exchange.
    package func close() async {
        try? await channel.close()
    }
}
