import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A response read by ``HTTPClient``.
package struct HTTPClientResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    /// The body, unless the request asked to count bytes only.
    package var body: ByteBuffer
    /// Body bytes received.
    package var bodyBytes: Int
}

/// A one-request-per-connection HTTP/1.1 client on NIO, with connect and total timeouts and an
/// optional local address to send from (the load generator binds 127.0.N.x so the router sees the
/// viewer's site); `https://` URLs go over TLS, the server's certificate checked against ``tls``'s
/// trust roots and the URL's host name or IP address. Foundation-free.
package struct HTTPClient: Sendable {
    package var group: any EventLoopGroup
    package var connectTimeout: TimeAmount
    package var timeout: TimeAmount
    /// The TLS client context of `https://` URLs; nil: the system's trust roots.
    package var tls: NIOSSLContext?

    package init(group: any EventLoopGroup, connectTimeout: TimeAmount = .seconds(2), timeout: TimeAmount = .seconds(10), tls: NIOSSLContext? = nil) {
        self.group = group
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.tls = tls
    }

    /// A client context that trusts the certificates in `caFile` (PEM) instead of the system's roots.
    /// - Throws: ``ControlError`` `badConfiguration` when the file holds no certificate.
    package static func trusting(caFile: String) throws(ControlError) -> NIOSSLContext {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ControlError(.badConfiguration, "cannot use \(caFile) as a CA file: \(error); give a PEM certificate", underlying: error)
        }
    }

    /// The system's trust roots, made once.
    private static let systemTLS: Result<NIOSSLContext, any Error> = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// Sends one request and reads the whole response.
    /// - Parameters:
    ///   - keepBody: false counts body bytes without keeping them.
    ///   - localAddress: an IP to send from.
    /// - Throws: ``ControlError`` `httpFailed` or `timeout`.
    package func request(
        _ method: HTTPMethod = .GET, _ url: HTTPURL, headers: HTTPHeaders = [:], keepBody: Bool = true, localAddress: String? = nil
    ) async throws(ControlError) -> HTTPClientResponse {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: HTTPClientResponse.self)
        var tls: NIOSSLContext?
        if url.isSecure {
            do {
                tls = try self.tls ?? Self.systemTLS.get()
            } catch {
                promise.fail(error)
                throw ControlError(.httpFailed, "cannot make a TLS client for \(url.base): \(error)", underlying: error)
            }
        }
        // SNI carries names only; an IP address is checked against the certificate's IP entries.
        let serverName = url.host.contains(":") || url.host.allSatisfy({ $0 == "." || $0.isNumber }) ? nil : url.host
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, keepBody: keepBody))
                }
            }
        if let localAddress {
            do {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localAddress, port: 0))
            } catch {
                promise.fail(error)
                throw ControlError(.httpFailed, "cannot send from \(localAddress): \(error)", underlying: error)
            }
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch {
            let failure = ControlError(.httpFailed, "cannot connect to \(url.base): \(error)", underlying: error)
            promise.fail(failure)
            throw failure
        }
        let deadline = eventLoop.scheduleTask(in: timeout) {
            promise.fail(ControlError(.timeout, "no complete response from \(url) within \(timeout.nanoseconds / 1_000_000) ms"))
            channel.close(promise: nil)
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.path, headers: headers)
        if !head.headers.contains(name: "Host") { head.headers.add(name: "Host", value: "\(url.host):\(url.port)") }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as ControlError {
            throw error
        } catch {
            throw ControlError(.httpFailed, "\(url): \(error)", underlying: error)
        }
    }

    /// GET that returns the body as text, failing on a non-2xx status.
    package func text(_ url: HTTPURL, localAddress: String? = nil) async throws(ControlError) -> String {
        let response = try await request(.GET, url, localAddress: localAddress)
        guard (200..<300).contains(response.status) else {
            throw ControlError(.httpFailed, "\(url) answered \(response.status)")
        }
        return String(buffer: response.body)
    }
}

final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<HTTPClientResponse>
    private let keepBody: Bool
    private var response: HTTPClientResponse?

    init(promise: EventLoopPromise<HTTPClientResponse>, keepBody: Bool) {
        self.promise = promise
        self.keepBody = keepBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = HTTPClientResponse(status: Int(head.status.code), headers: head.headers, body: ByteBuffer(), bodyBytes: 0)
        case .body(var buffer):
            response?.bodyBytes += buffer.readableBytes
            if keepBody { response?.body.writeBuffer(&buffer) }
        case .end:
            if let response {
                promise.succeed(response)
            } else {
                promise.fail(ControlError(.httpFailed, "response ended before its head"))
            }
            response = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ControlError(.httpFailed, "connection closed before the response was complete"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(ControlError(.httpFailed, "\(error)", underlying: error))
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ResponseCollector: Sendable {}
