import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One request as the control plane's small HTTP servers see it (router, API, demo origin).
package struct HTTPRequest: Sendable {
    package var method: HTTPMethod
    /// The request target as sent.
    package var uri: String
    /// The target without its query.
    package var path: String
    /// What follows `?`, or empty.
    package var query: String
    package var headers: HTTPHeaders
    /// The peer, as the socket reports it.
    package var remoteAddress: SocketAddress?

    /// The value of `name` in the query (`a=1&b=2`), if present.
    package func queryItem(_ name: String) -> String? {
        for item in query.split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == name { return String(kv[1]) }
        }
        return nil
    }
}

/// A complete response.
package struct HTTPResponse: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var body: ByteBuffer

    package init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package static func text(_ status: HTTPResponseStatus, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType, "Cache-Control": "no-store"], body: ByteBuffer(string: text))
    }

    package static func redirect(to location: String) -> HTTPResponse {
        HTTPResponse(status: .found, headers: ["Location": location, "Cache-Control": "no-store"])
    }
}

package typealias HTTPResponder = @Sendable (HTTPRequest) async -> HTTPResponse

/// A small HTTP/1.1 server over NIOHTTP1 for the control plane (keep-alive, pipelined requests
/// answered in order), over TLS when given a server context. Not the data plane: that is
/// `minicache`.
package final class HTTPServer: Sendable {
    package let channel: any Channel
    package let localAddress: SocketAddress
    /// Serves HTTPS.
    package let isSecure: Bool

    private init(channel: any Channel, localAddress: SocketAddress, isSecure: Bool) {
        self.channel = channel
        self.localAddress = localAddress
        self.isSecure = isSecure
    }

    /// Binds `host:port` (port 0 picks a free one) and serves `responder`.
    /// - Parameter tls: a server context: the listener serves HTTPS.
    /// - Throws: ``ControlError`` with code `bindFailed` when the address cannot be bound.
    package static func bind(
        host: String, port: Int, group: any EventLoopGroup, logger: Logger, tls: NIOSSLContext? = nil, responder: @escaping HTTPResponder
    ) async throws(ControlError) -> HTTPServer {
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(HTTPResponderHandler(responder: responder, logger: logger))
                    }
                }
                .bind(host: host, port: port).get()
            guard let address = channel.localAddress else {
                throw ControlError(.bindFailed, "\(host):\(port) has no local address after bind")
            }
            return HTTPServer(channel: channel, localAddress: address, isSecure: tls != nil)
        } catch let error as ControlError {
            throw error
        } catch {
            throw ControlError(.bindFailed, "cannot listen on \(host):\(port): \(error); choose another address or port", underlying: error)
        }
    }

    /// `http://host:port` (or `https://`) of the listener.
    package var url: String { "\(isSecure ? "https" : "http")://\(Self.hostPort(localAddress))" }

    package static func hostPort(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "127.0.0.1"
        let host = ip.contains(":") ? "[\(ip)]" : ip
        return "\(host):\(address.port ?? 0)"
    }

    package func close() async {
        try? await channel.close()
    }
}

final class HTTPResponderHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: HTTPResponder
    private let logger: Logger
    private var head: HTTPRequestHead?

    init(responder: @escaping HTTPResponder, logger: Logger) {
        self.responder = responder
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let request = HTTPRequest(
                method: head.method, uri: head.uri, path: String(parts.first ?? ""),
                query: parts.count > 1 ? String(parts[1]) : "", headers: head.headers,
                remoteAddress: context.channel.remoteAddress
            )
            let responder = self.responder
            let keepAlive = head.isKeepAlive
            let version = head.version
            let isHead = head.method == .HEAD
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            Task {
                let response = await responder(request)
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.write(response, version: version, keepAlive: keepAlive, isHead: isHead, context: context)
                }
            }
        }
    }

    private func write(_ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, isHead: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: "\(response.body.readableBytes)")
        headers.replaceOrAdd(name: "Server", value: "ecdn")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        if !isHead, response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let done = context.writeAndFlushPromise()
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPResponderHandler: Sendable {}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise() }
}
