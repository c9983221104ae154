#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOSSL
import NIOTLS

/// Stands behind the TLS handler of a new connection to an `https://` origin and completes
/// `promise` when the handshake succeeds, or fails it with an ``OriginError`` `tlsFailed` that
/// says why (the certificate check or the handshake failed, the origin closed, or it took longer
/// than the connect timeout). Removes itself once the handshake succeeded.
final class OriginHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let origin: OriginAddress
    private let timeout: TimeAmount
    private let promise: EventLoopPromise<Void>
    private var timer: Scheduled<Void>?
    private var done = false

    init(origin: OriginAddress, timeout: TimeAmount, promise: EventLoopPromise<Void>) {
        self.origin = origin
        self.timeout = timeout
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) {
            self.fail(context: context, "no TLS handshake within \(self.timeout); check that the origin speaks HTTPS on this port", cause: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls, !self.done {
            self.done = true
            self.timer?.cancel()
            self.promise.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.done else {
            context.fireErrorCaught(error)
            return
        }
        let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
        self.fail(context: context, Self.reason(error, peer: peer, now: time(nil)), cause: error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(context: context, "the origin closed the connection during the TLS handshake", cause: nil)
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ message: String, cause: (any Error)?) {
        guard !self.done else { return }
        self.done = true
        self.timer?.cancel()
        self.promise.fail(OriginError(.tlsFailed, origin: self.origin, message: message, cause: cause))
        context.close(promise: nil)
    }

    /// What went wrong, in words: the host name check, or for a certificate that failed
    /// verification, what its dates say (BoringSSL's error only says that verification failed).
    static func reason(_ error: any Error, peer: NIOSSLCertificate?, now: time_t) -> String {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "TLS handshake failed: its certificate does not name this host; fix the origin's certificate or the --origin host"
        }
        guard "\(error)".contains("CERTIFICATE_VERIFY_FAILED") else {
            return "TLS handshake failed (\(error)); check that the origin speaks HTTPS with TLS 1.2 or 1.3"
        }
        if let peer, peer.notValidAfter < now {
            return "TLS handshake failed: its certificate has expired; renew it"
        }
        if let peer, peer.notValidBefore > now {
            return "TLS handshake failed: its certificate is not valid yet; check the clocks"
        }
        return "TLS handshake failed: its certificate is not signed by a trusted CA (self-signed or unknown); trust its CA with --origin-ca FILE"
    }
}

@available(*, unavailable)
extension OriginHandshakeWatcher: Sendable {}
