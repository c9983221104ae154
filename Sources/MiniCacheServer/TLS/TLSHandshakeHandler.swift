import Logging
import NIOCore
import NIOTLS

/// Stands behind the TLS handler of a new connection: closes the connection when its handshake
/// does not complete within the header timeout (a client that stalls, or sends bytes that are
/// not TLS and never a complete record), and once the handshake is done puts the HTTP/1.1 or
/// HTTP/2 handlers in its place, as ALPN chose.
final class TLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Adds the handlers for the negotiated protocol (`h2`, `http/1.1` or nil) after `position`.
    typealias Configure = (ChannelHandlerContext, String?) throws -> Void

    private let timeout: TimeAmount
    private let configure: Configure
    private let logger: Logger
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger, configure: @escaping Configure) {
        self.timeout = timeout
        self.logger = logger
        self.configure = configure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.startTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.startTimer(context: context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tls = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = tls else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.timer?.cancel()
        self.timer = nil
        do {
            try self.configure(context, negotiated)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            self.logger.error("cannot set up a TLS connection", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The TLS handler has sent its alert (bad records, old protocols, no shared cipher).
        self.logger.debug("TLS handshake failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard self.timer == nil else { return }
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) {
            self.logger.debug("TLS handshake did not complete in time")
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension TLSHandshakeHandler: Sendable {}
