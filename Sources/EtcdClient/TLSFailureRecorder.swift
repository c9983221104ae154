import NIOCore
import Synchronization

/// The last TLS failure of the client's connections, so that a request that waited in vain for a
/// connection can say why (the request itself only sees its deadline pass).
final class TLSFailures: Sendable {
    private let last = Mutex<String?>(nil)

    var current: String? { last.withLock { $0 } }
    func record(_ failure: String) { last.withLock { $0 = failure } }
    func clear() { last.withLock { $0 = nil } }
}

/// Sits right after the TLS handler of a connection: records the first error the connection
/// raises (a certificate refused by either side, a member that does not speak TLS), and clears
/// the record once the member's first data arrives through TLS (the connection works).
final class TLSFailureRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let failures: TLSFailures
    private var working = false
    private var recorded = false

    init(_ failures: TLSFailures) {
        self.failures = failures
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !working {
            working = true
            failures.clear()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !recorded {
            recorded = true
            let member = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "a member"
            failures.record("\(member): \(error)")
        }
        context.fireErrorCaught(error)
    }
}
