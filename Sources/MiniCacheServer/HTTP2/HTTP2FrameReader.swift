import NIOCore

/// Cuts a server connection's bytes into HTTP/2 frames (RFC 9113 §4, §6): checks the client
/// preface, each frame's size and the rules that need no stream state, strips padding and
/// priority fields, and joins a header block's `CONTINUATION` frames — no more than
/// ``maxContinuationFrames`` of them and ``maxHeaderBlock`` bytes in all, so a block that never
/// ends costs a bounded amount (the CONTINUATION flood).
struct HTTP2FrameReader {
    /// A frame the connection acts on.
    enum Frame {
        /// A complete header block (still HPACK-encoded).
        case headers(stream: UInt32, block: ByteBuffer, endStream: Bool, dependsOnItself: Bool)
        /// `flowControlled` counts the padding too.
        case data(stream: UInt32, bytes: ByteBuffer, endStream: Bool, flowControlled: Int)
        case priority(stream: UInt32, dependsOnItself: Bool)
        case rstStream(stream: UInt32)
        case settings(ByteBuffer)
        case settingsAck
        case ping(UInt64)
        case pingAck
        case goAway
        case windowUpdate(stream: UInt32, increment: Int)
        /// A frame of a type the server does not know; it is ignored (RFC 9113 §5.5).
        case unknown
    }

    /// A connection error: the connection ends with `GOAWAY` carrying `code`.
    struct ConnectionError: Error {
        var code: HTTP2Wire.ErrorCode
        var reason: String
    }

    /// A header block waiting for its `CONTINUATION` frames.
    private struct PartialBlock {
        var stream: UInt32
        var block: ByteBuffer
        var endStream: Bool
        var dependsOnItself: Bool
        var continuations = 0
    }

    static let maxContinuationFrames = 5

    /// The largest header block accepted, encoded.
    let maxHeaderBlock: Int
    private var buffer: ByteBuffer?
    private var sawPreface = false
    private var sawSettings = false
    private var partial: PartialBlock?

    init(maxHeaderBlock: Int) {
        self.maxHeaderBlock = maxHeaderBlock
    }

    /// Adds bytes read from the connection.
    mutating func append(_ bytes: ByteBuffer) {
        if self.buffer == nil || self.buffer!.readableBytes == 0 {
            self.buffer = bytes
        } else {
            var bytes = bytes
            self.buffer!.writeBuffer(&bytes)
        }
    }

    /// The next complete frame, nil when more bytes are needed.
    mutating func next() throws(ConnectionError) -> Frame? {
        guard var bytes = self.buffer else { return nil }
        // Let go of the buffer while it is read, so that slices of it stay unique.
        self.buffer = nil
        defer {
            if bytes.readableBytes > 0 {
                if bytes.readerIndex > 65536 { bytes.discardReadBytes() }
                self.buffer = bytes
            }
        }
        if !self.sawPreface {
            guard bytes.readableBytes >= HTTP2Wire.prefaceLength else { return nil }
            let matches = bytes.readableBytesView.prefix(HTTP2Wire.prefaceLength).elementsEqual(
                UnsafeRawBufferPointer(start: HTTP2Wire.preface.utf8Start, count: HTTP2Wire.prefaceLength)
            )
            guard matches else { throw ConnectionError(code: .protocolError, reason: "no HTTP/2 client preface") }
            bytes.moveReaderIndex(forwardBy: HTTP2Wire.prefaceLength)
            self.sawPreface = true
        }
        while true {
            guard let header = HTTP2Wire.FrameHeader.peek(bytes) else { return nil }
            guard header.length <= HTTP2Wire.defaultMaxFrameSize else {
                throw ConnectionError(code: .frameSizeError, reason: "a frame of \(header.length) bytes")
            }
            guard bytes.readableBytes >= HTTP2Wire.frameHeaderLength + header.length else { return nil }
            bytes.moveReaderIndex(forwardBy: HTTP2Wire.frameHeaderLength)
            let payload = bytes.readSlice(length: header.length)!
            if let frame = try self.frame(header, payload) { return frame }
        }
    }

    /// The frame of `header` and `payload`; nil for a `CONTINUATION` that does not end its block.
    private mutating func frame(_ header: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) throws(ConnectionError) -> Frame? {
        let type = HTTP2Wire.FrameType(rawValue: header.type)
        if !self.sawSettings {
            guard type == .settings, header.flags & HTTP2Wire.Flag.ack == 0 else {
                throw ConnectionError(code: .protocolError, reason: "the preface is not followed by SETTINGS")
            }
            self.sawSettings = true
        }
        if let partial = self.partial {
            guard type == .continuation, header.stream == partial.stream else {
                throw ConnectionError(code: .protocolError, reason: "a header block interrupted before its end")
            }
            return try self.continuation(header, payload)
        }
        var payload = payload
        switch type {
        case .data:
            guard header.stream != 0 else { throw ConnectionError(code: .protocolError, reason: "DATA on stream 0") }
            let length = payload.readableBytes
            try Self.stripPadding(header, &payload)
            return .data(stream: header.stream, bytes: payload, endStream: header.flags & HTTP2Wire.Flag.endStream != 0, flowControlled: length)
        case .headers:
            guard header.stream != 0 else { throw ConnectionError(code: .protocolError, reason: "HEADERS on stream 0") }
            try Self.stripPadding(header, &payload)
            var dependsOnItself = false
            if header.flags & HTTP2Wire.Flag.priority != 0 {
                guard let dependency = payload.readInteger(as: UInt32.self), payload.readInteger(as: UInt8.self) != nil else {
                    throw ConnectionError(code: .frameSizeError, reason: "HEADERS too short for its priority")
                }
                dependsOnItself = dependency & 0x7fff_ffff == header.stream
            }
            let endStream = header.flags & HTTP2Wire.Flag.endStream != 0
            if header.flags & HTTP2Wire.Flag.endHeaders != 0 {
                return .headers(stream: header.stream, block: payload, endStream: endStream, dependsOnItself: dependsOnItself)
            }
            guard payload.readableBytes <= self.maxHeaderBlock else {
                throw ConnectionError(code: .enhanceYourCalm, reason: "a header block over \(self.maxHeaderBlock) bytes")
            }
            var block = ByteBuffer()
            block.reserveCapacity(payload.readableBytes * 2)
            block.writeBuffer(&payload)
            self.partial = PartialBlock(stream: header.stream, block: block, endStream: endStream, dependsOnItself: dependsOnItself)
            return nil
        case .priority:
            guard header.stream != 0 else { throw ConnectionError(code: .protocolError, reason: "PRIORITY on stream 0") }
            guard let dependency = payload.readInteger(as: UInt32.self), payload.readableBytes == 1 else {
                throw ConnectionError(code: .frameSizeError, reason: "PRIORITY of \(header.length) bytes")
            }
            return .priority(stream: header.stream, dependsOnItself: dependency & 0x7fff_ffff == header.stream)
        case .rstStream:
            guard header.stream != 0 else { throw ConnectionError(code: .protocolError, reason: "RST_STREAM on stream 0") }
            guard header.length == 4 else { throw ConnectionError(code: .frameSizeError, reason: "RST_STREAM of \(header.length) bytes") }
            return .rstStream(stream: header.stream)
        case .settings:
            guard header.stream == 0 else { throw ConnectionError(code: .protocolError, reason: "SETTINGS on a stream") }
            if header.flags & HTTP2Wire.Flag.ack != 0 {
                guard header.length == 0 else { throw ConnectionError(code: .frameSizeError, reason: "a SETTINGS acknowledgement with a payload") }
                return .settingsAck
            }
            guard header.length % 6 == 0 else { throw ConnectionError(code: .frameSizeError, reason: "SETTINGS of \(header.length) bytes") }
            return .settings(payload)
        case .pushPromise:
            throw ConnectionError(code: .protocolError, reason: "PUSH_PROMISE from a client")
        case .ping:
            guard header.stream == 0 else { throw ConnectionError(code: .protocolError, reason: "PING on a stream") }
            guard header.length == 8, let opaque = payload.readInteger(as: UInt64.self) else {
                throw ConnectionError(code: .frameSizeError, reason: "PING of \(header.length) bytes")
            }
            return header.flags & HTTP2Wire.Flag.ack != 0 ? .pingAck : .ping(opaque)
        case .goAway:
            guard header.stream == 0 else { throw ConnectionError(code: .protocolError, reason: "GOAWAY on a stream") }
            guard header.length >= 8 else { throw ConnectionError(code: .frameSizeError, reason: "GOAWAY of \(header.length) bytes") }
            return .goAway
        case .windowUpdate:
            guard header.length == 4, let increment = payload.readInteger(as: UInt32.self) else {
                throw ConnectionError(code: .frameSizeError, reason: "WINDOW_UPDATE of \(header.length) bytes")
            }
            return .windowUpdate(stream: header.stream, increment: Int(increment & 0x7fff_ffff))
        case .continuation:
            throw ConnectionError(code: .protocolError, reason: "CONTINUATION without a header block")
        case nil:
            return .unknown
        }
    }

    private mutating func continuation(_ header: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) throws(ConnectionError) -> Frame? {
        var payload = payload
        var partial = self.partial!
        partial.continuations += 1
        guard partial.continuations <= Self.maxContinuationFrames, header.flags & HTTP2Wire.Flag.endHeaders != 0 || payload.readableBytes > 0 else {
            throw ConnectionError(code: .enhanceYourCalm, reason: "more than \(Self.maxContinuationFrames) CONTINUATION frames")
        }
        guard partial.block.readableBytes + payload.readableBytes <= self.maxHeaderBlock else {
            throw ConnectionError(code: .enhanceYourCalm, reason: "a header block over \(self.maxHeaderBlock) bytes")
        }
        partial.block.writeBuffer(&payload)
        guard header.flags & HTTP2Wire.Flag.endHeaders != 0 else {
            self.partial = partial
            return nil
        }
        self.partial = nil
        return .headers(stream: partial.stream, block: partial.block, endStream: partial.endStream, dependsOnItself: partial.dependsOnItself)
    }

    /// Removes the pad length and padding of a `DATA` or `HEADERS` frame.
    private static func stripPadding(_ header: HTTP2Wire.FrameHeader, _ payload: inout ByteBuffer) throws(ConnectionError) {
        guard header.flags & HTTP2Wire.Flag.padded != 0 else { return }
        guard let padding = payload.readInteger(as: UInt8.self), Int(padding) <= payload.readableBytes else {
            throw ConnectionError(code: .protocolError, reason: "padding longer than its frame")
        }
        payload.moveWriterIndex(to: payload.writerIndex - Int(padding))
    }
}
