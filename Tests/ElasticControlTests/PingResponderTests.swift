@testable import EtcdClient
import NIOCore
import NIOEmbedded
import Testing

/// The etcd client's PING responder: server PINGs are acknowledged on the raw byte stream and
/// never reach the HTTP/2 handler; every other byte passes on unchanged, however the stream is cut.
struct PingResponderTests {
    static func frame(type: UInt8, flags: UInt8, stream: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + withUnsafeBytes(of: stream.bigEndian, Array.init) + payload
    }

    @Test(arguments: [1, 2, 5, 9, 17, 1000])
    func serverPingsAreAnsweredAndRemovedWhateverTheReadSizes(chunk: Int) throws {
        let settings = Self.frame(type: 4, flags: 0, payload: [0, 4, 0, 1, 0, 0])
        let ping = Self.frame(type: 6, flags: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        // A DATA frame whose payload looks like a PING header must pass untouched.
        let data = Self.frame(type: 0, flags: 1, stream: 3, payload: Self.frame(type: 6, flags: 0, payload: [9, 9, 9, 9, 9, 9, 9, 9]))
        let ack = Self.frame(type: 6, flags: 1, payload: [7, 7, 7, 7, 7, 7, 7, 7])
        let secondPing = Self.frame(type: 6, flags: 0, payload: [8, 7, 6, 5, 4, 3, 2, 1])
        let stream = settings + ping + data + ack + secondPing + settings

        let channel = EmbeddedChannel(handler: PingResponder())
        var offset = 0
        while offset < stream.count {
            let end = min(offset + chunk, stream.count)
            try channel.writeInbound(ByteBuffer(bytes: stream[offset..<end]))
            offset = end
        }
        var passed: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { passed += Array(buffer.readableBytesView) }
        #expect(passed == settings + data + ack + settings)

        var written: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += Array(buffer.readableBytesView) }
        #expect(written == Self.frame(type: 6, flags: 1, payload: [1, 2, 3, 4, 5, 6, 7, 8]) + Self.frame(type: 6, flags: 1, payload: [8, 7, 6, 5, 4, 3, 2, 1]))
        #expect(try channel.finish().isClean)
    }
}
