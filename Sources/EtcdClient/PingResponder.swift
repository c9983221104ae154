import NIOCore

/// Answers the server's HTTP/2 PING frames on the raw byte stream, in front of the HTTP/2 handler.
///
/// etcd's gRPC server estimates the bandwidth-delay product by sending a PING after data it
/// receives, which for small requests means one PING per request. swift-nio-http2 counts every
/// inbound PING against a denial-of-service limit (200 control frames in 30 s) that grpc-swift's
/// transport does not let a client change, and closes the connection when it is exceeded: a
/// client making more than about 7 requests a second lost its connection, and with it every
/// watch and lease keep-alive on it, every 200 requests. This handler sits first in the
/// connection's pipeline, acknowledges each server PING itself (as HTTP/2 requires, with the same
/// 8 bytes) and passes every other frame on unchanged, so the HTTP/2 handler never sees them.
/// PING acknowledgements (of the client's own keep-alive pings) pass through.
final class PingResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Bytes of the current frame's header (and of a PING's payload) not yet complete.
    private var pending: ByteBuffer?
    /// Bytes of the current frame still to pass on as they come.
    private var passThrough = 0

    static let frameHeaderLength = 9
    static let pingType: UInt8 = 6
    static let ackFlag: UInt8 = 1
    static let pingPayloadLength = 8

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        while input.readableBytes > 0 {
            if passThrough > 0 {
                let count = min(passThrough, input.readableBytes)
                passThrough -= count
                if let slice = input.readSlice(length: count) { context.fireChannelRead(wrapInboundOut(slice)) }
                continue
            }
            var frame = pending ?? context.channel.allocator.buffer(capacity: Self.frameHeaderLength + Self.pingPayloadLength)
            pending = nil
            if frame.readableBytes < Self.frameHeaderLength {
                var head = input.readSlice(length: min(Self.frameHeaderLength - frame.readableBytes, input.readableBytes))!
                frame.writeBuffer(&head)
                guard frame.readableBytes == Self.frameHeaderLength else {
                    pending = frame
                    return
                }
            }
            let length = Int(frame.getInteger(at: frame.readerIndex, as: UInt16.self)!) << 8
                | Int(frame.getInteger(at: frame.readerIndex + 2, as: UInt8.self)!)
            let type = frame.getInteger(at: frame.readerIndex + 3, as: UInt8.self)!
            let flags = frame.getInteger(at: frame.readerIndex + 4, as: UInt8.self)!
            guard type == Self.pingType, flags & Self.ackFlag == 0, length == Self.pingPayloadLength else {
                // Not a server PING (a malformed PING is left to the HTTP/2 handler to refuse).
                passThrough = length
                context.fireChannelRead(wrapInboundOut(frame))
                continue
            }
            let missing = Self.frameHeaderLength + Self.pingPayloadLength - frame.readableBytes
            var payload = input.readSlice(length: min(missing, input.readableBytes))!
            frame.writeBuffer(&payload)
            guard frame.readableBytes == Self.frameHeaderLength + Self.pingPayloadLength else {
                pending = frame
                return
            }
            frame.setInteger(Self.ackFlag, at: frame.readerIndex + 4)
            context.writeAndFlush(NIOAny(frame), promise: nil)
        }
    }
}
