import NIOCore

/// The parts of HTTP/2's wire format (RFC 9113 §4, §6, §7) the server reads and writes, and the
/// frames it writes, appended to a connection's output buffer.
enum HTTP2Wire {
    static let preface: StaticString = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    static let prefaceLength = 24
    static let frameHeaderLength = 9
    /// `SETTINGS_MAX_FRAME_SIZE`'s initial value: the largest frame the server accepts (it never
    /// raises it) and sends until the client allows more.
    static let defaultMaxFrameSize = 16384
    static let defaultWindow = 65535
    static let maxWindow = Int(Int32.max)

    enum FrameType: UInt8 {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5, ping = 6,
            goAway = 7, windowUpdate = 8, continuation = 9
    }

    enum Flag {
        static let endStream: UInt8 = 0x1
        static let ack: UInt8 = 0x1
        static let endHeaders: UInt8 = 0x4
        static let padded: UInt8 = 0x8
        static let priority: UInt8 = 0x20
    }

    /// Error codes (RFC 9113 §7).
    struct ErrorCode: Equatable, Sendable {
        let rawValue: UInt32

        static let noError = ErrorCode(rawValue: 0x0)
        static let protocolError = ErrorCode(rawValue: 0x1)
        static let internalError = ErrorCode(rawValue: 0x2)
        static let flowControlError = ErrorCode(rawValue: 0x3)
        static let streamClosed = ErrorCode(rawValue: 0x5)
        static let frameSizeError = ErrorCode(rawValue: 0x6)
        static let refusedStream = ErrorCode(rawValue: 0x7)
        static let cancel = ErrorCode(rawValue: 0x8)
        static let compressionError = ErrorCode(rawValue: 0x9)
        static let enhanceYourCalm = ErrorCode(rawValue: 0xb)
    }

    enum Setting {
        static let headerTableSize: UInt16 = 0x1
        static let enablePush: UInt16 = 0x2
        static let maxConcurrentStreams: UInt16 = 0x3
        static let initialWindowSize: UInt16 = 0x4
        static let maxFrameSize: UInt16 = 0x5
        static let maxHeaderListSize: UInt16 = 0x6
    }

    /// A frame's 9-byte header.
    struct FrameHeader {
        var length: Int
        var type: UInt8
        var flags: UInt8
        var stream: UInt32

        /// Reads a frame header at the reader index without moving it; nil with fewer than 9 bytes.
        static func peek(_ bytes: ByteBuffer) -> FrameHeader? {
            let at = bytes.readerIndex
            guard bytes.readableBytes >= HTTP2Wire.frameHeaderLength,
                let high = bytes.getInteger(at: at, as: UInt8.self),
                let low = bytes.getInteger(at: at + 1, as: UInt16.self),
                let type = bytes.getInteger(at: at + 3, as: UInt8.self),
                let flags = bytes.getInteger(at: at + 4, as: UInt8.self),
                let stream = bytes.getInteger(at: at + 5, as: UInt32.self)
            else { return nil }
            return FrameHeader(length: Int(high) << 16 | Int(low), type: type, flags: flags, stream: stream & 0x7fff_ffff)
        }
    }

    // MARK: - Writing frames

    static func writeFrameHeader(length: Int, type: FrameType, flags: UInt8, stream: UInt32, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(truncatingIfNeeded: length >> 16))
        out.writeInteger(UInt16(truncatingIfNeeded: length))
        out.writeInteger(type.rawValue)
        out.writeInteger(flags)
        out.writeInteger(stream)
    }

    /// Sets the length of the frame whose header starts at `headerIndex` from the bytes written
    /// after it.
    static func setFrameLength(at headerIndex: Int, in out: inout ByteBuffer) {
        let length = out.writerIndex - headerIndex - Self.frameHeaderLength
        out.setInteger(UInt8(truncatingIfNeeded: length >> 16), at: headerIndex)
        out.setInteger(UInt16(truncatingIfNeeded: length), at: headerIndex + 1)
    }

    static func writeSettings(_ settings: [(UInt16, UInt32)], into out: inout ByteBuffer) {
        Self.writeFrameHeader(length: settings.count * 6, type: .settings, flags: 0, stream: 0, into: &out)
        for (id, value) in settings {
            out.writeInteger(id)
            out.writeInteger(value)
        }
    }

    static func writeSettingsAck(into out: inout ByteBuffer) {
        Self.writeFrameHeader(length: 0, type: .settings, flags: Flag.ack, stream: 0, into: &out)
    }

    static func writePingAck(_ opaque: UInt64, into out: inout ByteBuffer) {
        Self.writeFrameHeader(length: 8, type: .ping, flags: Flag.ack, stream: 0, into: &out)
        out.writeInteger(opaque)
    }

    static func writeGoAway(lastStream: UInt32, _ code: ErrorCode, into out: inout ByteBuffer) {
        Self.writeFrameHeader(length: 8, type: .goAway, flags: 0, stream: 0, into: &out)
        out.writeInteger(lastStream)
        out.writeInteger(code.rawValue)
    }

    static func writeRSTStream(_ stream: UInt32, _ code: ErrorCode, into out: inout ByteBuffer) {
        Self.writeFrameHeader(length: 4, type: .rstStream, flags: 0, stream: stream, into: &out)
        out.writeInteger(code.rawValue)
    }

    static func writeWindowUpdate(_ stream: UInt32, increment: Int, into out: inout ByteBuffer) {
        Self.writeFrameHeader(length: 4, type: .windowUpdate, flags: 0, stream: stream, into: &out)
        out.writeInteger(UInt32(increment))
    }

    /// A header block as `HEADERS` and, when it is larger than `maxFrameSize`, `CONTINUATION`
    /// frames.
    static func writeHeaders(_ block: ByteBuffer, stream: UInt32, endStream: Bool, maxFrameSize: Int, into out: inout ByteBuffer) {
        var block = block
        var type = FrameType.headers
        repeat {
            let length = min(block.readableBytes, maxFrameSize)
            var flags: UInt8 = length == block.readableBytes ? Flag.endHeaders : 0
            if endStream && type == .headers { flags |= Flag.endStream }
            Self.writeFrameHeader(length: length, type: type, flags: flags, stream: stream, into: &out)
            out.writeImmutableBuffer(block.readSlice(length: length)!)
            type = .continuation
        } while block.readableBytes > 0
    }
}
