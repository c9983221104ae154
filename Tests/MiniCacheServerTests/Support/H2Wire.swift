import NIOCore
import NIOHPACK

/// HTTP/2 frames written and read by hand (RFC 9113 §4), for tests that check the server's
/// frames exactly or misbehave on purpose.
struct H2Wire {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Kind: UInt8 {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5, ping = 6, goAway = 7,
            windowUpdate = 8, continuation = 9
    }

    static let endStream: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
    static let ack: UInt8 = 0x1

    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: [UInt8]

        var kind: Kind? { Kind(rawValue: self.type) }
    }

    /// A received response, as far as it came.
    struct Response {
        var fields: [(String, String)] = []
        var body: [UInt8] = []
        var ended = false
        var reset: UInt32?

        var status: Int? { self.field(":status").flatMap { Int($0) } }
        func field(_ name: String) -> String? { self.fields.first { $0.0 == name }?.1 }
    }

    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())

    static func frame(_ kind: Kind, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
        let length = payload.count
        var bytes: [UInt8] = [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), kind.rawValue, flags]
        bytes += Self.uint32(stream & 0x7fff_ffff)
        return bytes + payload
    }

    static func uint32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func settings(_ pairs: [(UInt16, UInt32)] = []) -> [UInt8] {
        Self.frame(.settings, stream: 0, pairs.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xff)] + Self.uint32($0.1) })
    }

    static func windowUpdate(stream: UInt32, _ increment: UInt32) -> [UInt8] {
        Self.frame(.windowUpdate, stream: stream, Self.uint32(increment))
    }

    static func rstStream(stream: UInt32, code: UInt32 = 8) -> [UInt8] {
        Self.frame(.rstStream, stream: stream, Self.uint32(code))
    }

    /// The client preface, an empty SETTINGS frame and its acknowledgement of the server's.
    static func start(_ settings: [(UInt16, UInt32)] = []) -> [UInt8] {
        Self.preface + Self.settings(settings) + Self.frame(.settings, flags: Self.ack, stream: 0)
    }

    /// A header block (HPACK, with the dynamic table this connection's encoder keeps).
    mutating func block(_ fields: [(String, String)]) -> [UInt8] {
        var buffer = ByteBuffer()
        try! self.encoder.encode(headers: HPACKHeaders(fields), to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// A GET (or `method`) request for `path` on `stream`, ending the stream.
    mutating func request(_ path: String, stream: UInt32, method: String = "GET", extra: [(String, String)] = []) -> [UInt8] {
        let fields = [(":method", method), (":scheme", "https"), (":authority", "localhost"), (":path", path)] + extra
        return Self.frame(.headers, flags: Self.endHeaders | Self.endStream, stream: stream, self.block(fields))
    }

    /// The complete frames in `bytes`.
    static func frames(in bytes: [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        var i = 0
        while bytes.count - i >= 9 {
            let length = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard bytes.count - i - 9 >= length else { break }
            let stream = UInt32(bytes[i + 5] & 0x7f) << 24 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 8 | UInt32(bytes[i + 8])
            frames.append(Frame(type: bytes[i + 3], flags: bytes[i + 4], stream: stream, payload: Array(bytes[(i + 9)..<(i + 9 + length)])))
            i += 9 + length
        }
        return frames
    }

    /// The error code of the server's GOAWAY, if it sent one.
    static func goAwayCode(in bytes: [UInt8]) -> UInt32? {
        guard let frame = Self.frames(in: bytes).first(where: { $0.kind == .goAway }), frame.payload.count >= 8 else { return nil }
        return frame.payload[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The value of a SETTINGS parameter the server sent.
    static func setting(_ parameter: UInt16, in bytes: [UInt8]) -> UInt32? {
        for frame in Self.frames(in: bytes) where frame.kind == .settings && frame.flags & Self.ack == 0 {
            var i = 0
            while i + 6 <= frame.payload.count {
                let id = UInt16(frame.payload[i]) << 8 | UInt16(frame.payload[i + 1])
                if id == parameter { return frame.payload[(i + 2)..<(i + 6)].reduce(0) { $0 << 8 | UInt32($1) } }
                i += 6
            }
        }
        return nil
    }

    /// The responses in `bytes`, by stream (header blocks decoded in order).
    static func responses(in bytes: [UInt8]) -> [UInt32: Response] {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        var responses: [UInt32: Response] = [:]
        var block: (stream: UInt32, bytes: [UInt8], endStream: Bool)?
        for frame in Self.frames(in: bytes) {
            switch frame.kind {
            case .headers, .continuation:
                var payload = frame.payload
                if frame.kind == .headers {
                    if frame.flags & 0x8 != 0 { payload = Array(payload.dropFirst().dropLast(Int(frame.payload[0]))) }
                    if frame.flags & 0x20 != 0 { payload = Array(payload.dropFirst(5)) }
                    block = (frame.stream, payload, frame.flags & Self.endStream != 0)
                } else {
                    block?.bytes += payload
                }
                if frame.flags & Self.endHeaders != 0, let complete = block {
                    var buffer = ByteBuffer(bytes: complete.bytes)
                    let fields = (try? decoder.decodeHeaders(from: &buffer)) ?? HPACKHeaders()
                    responses[complete.stream, default: Response()].fields += fields.map { ($0.name, $0.value) }
                    if complete.endStream { responses[complete.stream]!.ended = true }
                    block = nil
                }
            case .data:
                responses[frame.stream, default: Response()].body += frame.payload
                if frame.flags & Self.endStream != 0 { responses[frame.stream]!.ended = true }
            case .rstStream:
                responses[frame.stream, default: Response()].reset = frame.payload.reduce(0) { $0 << 8 | UInt32($1) }
            default:
                break
            }
        }
        return responses
    }
}
