#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1

/// Encodes an ``HTTPResponse`` as HTTP/1.1 bytes for ``HTTPServer``: the status line, the
/// responder's fields, `Content-Length`, `Server` and `Date` (RFC 9110, 6.6.1), and
/// `Connection: close` when the connection ends with it, in one buffer with the body when the
/// body is small. One per connection: the `Server` line is encoded once, the `Date` line once
/// a second.
struct HTTPResponseEncoding {
    /// Bodies up to this size go in the head's buffer (one copy, one write); larger ones are
    /// written as they are, after it.
    static let inlineBodyLimit = 16 * 1024

    private let serverLine: [UInt8]
    private var dateSecond = -1
    private var dateLine: [UInt8] = []

    init(serverName: String) {
        self.serverLine = Array("Server: \(serverName)\r\n".utf8)
    }

    /// The head (with the body when small) and, for a large body, the body to write after it.
    /// A field that would break the head (a CR, LF or NUL in it, or a name that is not a token)
    /// turns the answer into a `500` that says which field.
    mutating func encode(
        _ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, isHead: Bool, allocator: ByteBufferAllocator
    ) -> (head: ByteBuffer, body: ByteBuffer?) {
        var fieldBytes = 0
        for (name, value) in response.headers {
            guard Self.isToken(name), Self.isFieldValue(value) else {
                let broken = HTTPResponse.text(.internalServerError, "the server made an invalid header field (\(Self.printable(name)))\n")
                return encode(broken, version: version, keepAlive: keepAlive, isHead: isHead, allocator: allocator)
            }
            fieldBytes += name.utf8.count + value.utf8.count + 4
        }
        refreshDate()
        let bodyBytes = response.body.readableBytes
        let inline = isHead || bodyBytes <= Self.inlineBodyLimit
        var out = allocator.buffer(capacity: 96 + fieldBytes + serverLine.count + dateLine.count + (inline && !isHead ? bodyBytes : 0))
        // RFC 9110, 6.2: the server's own version, whatever the request's minor version.
        out.writeStaticString("HTTP/1.1 ")
        Self.writeDecimal(Int(response.status.code), into: &out)
        out.writeInteger(UInt8(ascii: " "))
        out.writeString(response.status.reasonPhrase)
        out.writeStaticString("\r\n")
        for (name, value) in response.headers where !Self.isServerOwned(name) {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        // RFC 9110, 8.6: no Content-Length in a 204 or a 304.
        if response.status != .noContent, response.status != .notModified {
            out.writeStaticString("Content-Length: ")
            Self.writeDecimal(bodyBytes, into: &out)
            out.writeStaticString("\r\n")
        }
        out.writeBytes(serverLine)
        out.writeBytes(dateLine)
        if !keepAlive {
            out.writeStaticString("Connection: close\r\n")
        } else if version.major == 1, version.minor == 0 {
            out.writeStaticString("Connection: keep-alive\r\n")
        }
        out.writeStaticString("\r\n")
        if isHead || bodyBytes == 0 { return (out, nil) }
        if inline {
            var body = response.body
            out.writeBuffer(&body)
            return (out, nil)
        }
        return (out, response.body)
    }

    private mutating func refreshDate() {
        let now = time(nil)
        guard now != dateSecond else { return }
        dateSecond = now
        dateLine = Array("Date: \(HTTPDate.format(Int64(now)))\r\n".utf8)
    }

    /// Fields the encoder writes itself: the responder's own are left out.
    private static func isServerOwned(_ name: String) -> Bool {
        switch name.utf8.count {
        case 6: return name.lowercased() == "server"
        case 10: return name.lowercased() == "connection"
        case 14: return name.lowercased() == "content-length"
        default: return false
        }
    }

    private static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
        var n = UInt(max(value, 0))
        var digits = 1
        var rest = n / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let start = buffer.writerIndex
        buffer.writeRepeatingByte(UInt8(ascii: "0"), count: digits)
        for at in stride(from: start + digits - 1, through: start, by: -1) {
            buffer.setInteger(UInt8(ascii: "0") + UInt8(n % 10), at: at)
            n /= 10
        }
    }

    /// RFC 9110, 5.6.2: a field name is a token.
    private static func isToken(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }

    /// RFC 9110, 5.5: no CR, LF or NUL in a field value.
    private static func isFieldValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    private static func printable(_ name: String) -> String {
        String(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
    }
}
