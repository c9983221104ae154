import NIOCore
import Synchronization

/// The last failure of the client's connections, so that a request that waited in vain for a
/// connection can say why (the request itself only sees its deadline pass).
final class ConnectionFailures: Sendable {
    private let last = Mutex<String?>(nil)

    var current: String? { last.withLock { $0 } }
    func record(_ failure: String) { last.withLock { $0 = failure } }
    func clear() { last.withLock { $0 = nil } }
}

/// Sits in front of the HTTP/2 handler of a connection (right after the TLS handler, with TLS):
/// records the first error the connection raises (a certificate refused by either side, a
/// member that does not speak TLS) or, when the member closes it before sending a byte (a TLS
/// member reached in plain text does), that; clears the record once the member's first data
/// arrives (the connection works).
final class ConnectionFailureRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// What a member that closed a connection before it sent anything is recorded as.
    static let closedUnanswered = "closed the connection before answering"
    /// What a member that reset or closed a connection in the TLS handshake without a TLS alert
    /// (as a member in plain text does) is recorded as.
    static let closedInTLSHandshake = "closed the connection in the TLS handshake"

    private let failures: ConnectionFailures
    private let overTLS: Bool
    private var working = false
    private var recorded = false

    init(_ failures: ConnectionFailures, overTLS: Bool) {
        self.failures = failures
        self.overTLS = overTLS
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !working {
            working = true
            failures.clear()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let description = "\(error)"
        let closed = error is IOError || description.contains("EOF during handshake") || description.contains("uncleanShutdown")
        record(context, overTLS && !working && closed ? Self.closedInTLSHandshake : description)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !working { record(context, Self.closedUnanswered) }
        context.fireChannelInactive()
    }

    private func record(_ context: ChannelHandlerContext, _ failure: String) {
        guard !recorded else { return }
        recorded = true
        let member = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "a member"
        failures.record("\(member): \(Self.brief(failure))")
    }

    /// The TLS library's reason (`CERTIFICATE_VERIFY_FAILED`) instead of its whole error, which
    /// names source files.
    static func brief(_ failure: String) -> String {
        guard let range = failure.firstRange(of: "OPENSSL_internal:") else { return failure }
        return String(failure[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" })
    }
}
