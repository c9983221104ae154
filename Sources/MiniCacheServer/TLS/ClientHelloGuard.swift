import NIOCore

/// Looks at the first record header of a connection whose certificate is picked by server name:
/// a handshake record of allowed length goes on to NIO's `SNIHandler`; anything else (another
/// record type, or a length over TLS's limit) is handed straight to the TLS handler of the
/// default certificate, so that BoringSSL answers it with the fatal alert it deserves
/// (`record_overflow`, `unexpected_message`, ...) at once instead of the SNI reader waiting for a
/// record that will never be valid.
final class ClientHelloGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The largest TLSPlaintext record (RFC 8446 §5.1).
    static let maxRecordLength = 1 << 14

    private let onInvalid: (ChannelHandlerContext) throws -> Void
    private var buffered: ByteBuffer?

    /// - Parameter onInvalid: swaps the SNI reader for the default certificate's TLS handler.
    init(onInvalid: @escaping (ChannelHandlerContext) throws -> Void) {
        self.onInvalid = onInvalid
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if self.buffered == nil {
            self.buffered = bytes
        } else {
            self.buffered!.writeBuffer(&bytes)
        }
        guard let header = self.buffered, header.readableBytes >= 5,
            let type = header.getInteger(at: header.readerIndex, as: UInt8.self),
            let length = header.getInteger(at: header.readerIndex + 3, as: UInt16.self)
        else { return }
        if type != 0x16 || Int(length) > Self.maxRecordLength {
            do {
                try self.onInvalid(context)
            } catch {
                context.close(promise: nil)
                return
            }
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        if let buffered = self.buffered {
            self.buffered = nil
            context.fireChannelRead(self.wrapInboundOut(buffered))
            context.fireChannelReadComplete()
        }
        context.leavePipeline(removalToken: removalToken)
    }
}

@available(*, unavailable)
extension ClientHelloGuard: Sendable {}
