import HTTPToolkit
import Logging
import NIOCore
import NIOSSL

extension HTTPServer {
    /// Binds `host:port` (port 0 picks a free one) for the control plane's listeners (router, API,
    /// demo origin) and serves `responder`.
    /// - Parameter tls: serve HTTPS with this certificate.
    /// - Throws: ``ControlError`` with code `bindFailed` when the address cannot be bound, or
    ///   `badConfiguration` when the certificate cannot be loaded.
    package static func bind(
        host: String, port: Int, tls: TLSFiles? = nil, group: any EventLoopGroup, logger: Logger, responder: @escaping HTTPResponder
    ) async throws(ControlError) -> HTTPServer {
        try await bind(host: host, port: port, tls: tls, group: group, logger: logger, immediate: { request in .later { await responder(request) } })
    }

    /// As ``bind(host:port:tls:group:logger:responder:)``, for a responder that answers on the
    /// event loop when it can (``HTTPImmediateResponder``).
    package static func bind(
        host: String, port: Int, tls: TLSFiles? = nil, group: any EventLoopGroup, logger: Logger, immediate: @escaping HTTPImmediateResponder
    ) async throws(ControlError) -> HTTPServer {
        let context: NIOSSLContext?
        do {
            context = try tls?.serverContext()
        } catch {
            throw ControlError(.badConfiguration, error.message, underlying: error)
        }
        do {
            return try await bind(
                HTTPServerConfiguration(host: host, port: port, serverName: "ecdn", tls: context), group: group, logger: logger, immediate: immediate)
        } catch {
            throw ControlError(.bindFailed, error.message, underlying: error)
        }
    }
}

extension HTTPURL {
    /// Parses an `http://` or `https://` URL for the control plane (origins, the router, playlists).
    /// - Throws: ``ControlError`` with code `badURL` saying what is wrong.
    package static func parse(_ text: String) throws(ControlError) -> HTTPURL {
        do {
            return try HTTPURL(text, schemes: [.http, .https])
        } catch {
            throw ControlError(.badURL, "\(error)", underlying: error)
        }
    }
}
