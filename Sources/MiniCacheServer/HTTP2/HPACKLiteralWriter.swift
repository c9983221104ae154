import NIOCore

/// Writes response header blocks with HPACK's static table and literals only (RFC 7541 §6.1,
/// §6.2.2): never indexed, so the client's dynamic table stays empty and any block can be
/// prepared once and sent again as it is, on any connection, in any order.
enum HPACKLiteralWriter {
    /// A dynamic table size update to 0 (RFC 7541 §6.3): sent first after the client's
    /// `SETTINGS_HEADER_TABLE_SIZE` changed, so its decoder never expects one.
    static let emptyTableUpdate: UInt8 = 0x20

    /// `:status`: an indexed field for the statuses the static table has, else a literal.
    static func writeStatus(_ code: Int, into out: inout ByteBuffer) {
        switch code {
        case 200: out.writeInteger(UInt8(0x80 | 8))
        case 204: out.writeInteger(UInt8(0x80 | 9))
        case 206: out.writeInteger(UInt8(0x80 | 10))
        case 304: out.writeInteger(UInt8(0x80 | 11))
        case 400: out.writeInteger(UInt8(0x80 | 12))
        case 404: out.writeInteger(UInt8(0x80 | 13))
        case 500: out.writeInteger(UInt8(0x80 | 14))
        default:
            Self.writeInteger(8, prefixBits: 4, flags: 0, into: &out)
            Self.writeInteger(3, prefixBits: 7, flags: 0, into: &out)
            out.writeInteger(UInt8(ascii: "0") + UInt8(code / 100 % 10))
            out.writeInteger(UInt8(ascii: "0") + UInt8(code / 10 % 10))
            out.writeInteger(UInt8(ascii: "0") + UInt8(code % 10))
        }
    }

    /// A field as a literal without indexing; `name` is lowercase.
    static func writeField(name: some Collection<UInt8>, value: some Collection<UInt8>, into out: inout ByteBuffer) {
        if let index = Self.staticIndex(of: name) {
            Self.writeInteger(index, prefixBits: 4, flags: 0, into: &out)
        } else {
            out.writeInteger(UInt8(0))
            Self.writeInteger(name.count, prefixBits: 7, flags: 0, into: &out)
            out.writeBytes(name)
        }
        Self.writeInteger(value.count, prefixBits: 7, flags: 0, into: &out)
        out.writeBytes(value)
    }

    /// HTTP/1.1 field lines up to and including the empty line, as literals: names lowercased,
    /// without the fields HTTP/2 forbids (RFC 9113 §8.2.2).
    static func writeFields(fromHTTP1 bytes: inout ByteBuffer, into out: inout ByteBuffer) {
        var name: [UInt8] = []
        while bytes.readableBytes >= 2 {
            let view = bytes.readableBytesView
            guard let lineEnd = view.firstIndex(of: UInt8(ascii: "\n")) else { return }
            let line = view[view.startIndex..<lineEnd]
            bytes.moveReaderIndex(to: lineEnd + 1)
            let content = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            if content.isEmpty { return }
            guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else { continue }
            name.removeAll(keepingCapacity: true)
            for byte in content[content.startIndex..<colon] {
                name.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
            }
            if Self.isConnectionSpecific(name) { continue }
            var valueStart = colon + 1
            while valueStart < content.endIndex, content[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            Self.writeField(name: name, value: content[valueStart...], into: &out)
        }
    }

    /// An HTTP/1.1 head (status line, field lines, empty line) as a header block; the bytes after
    /// the head (a body) are left in `bytes`.
    static func writeHead(fromHTTP1 bytes: inout ByteBuffer, into out: inout ByteBuffer) {
        // "HTTP/1.1 NNN reason\r\n"
        let digits = bytes.getBytes(at: bytes.readerIndex + 9, length: 3) ?? []
        let code = digits.count == 3 ? digits.reduce(0) { $0 * 10 + Int($1) - 48 } : 500
        Self.writeStatus((100...999).contains(code) ? code : 500, into: &out)
        if let lineEnd = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            bytes.moveReaderIndex(to: lineEnd + 1)
        }
        Self.writeFields(fromHTTP1: &bytes, into: &out)
    }

    private static func isConnectionSpecific(_ name: [UInt8]) -> Bool {
        switch name.count {
        case 7: return name.elementsEqual("upgrade".utf8)
        case 10: return name.elementsEqual("connection".utf8) || name.elementsEqual("keep-alive".utf8)
        case 16: return name.elementsEqual("proxy-connection".utf8)
        case 17: return name.elementsEqual("transfer-encoding".utf8)
        default: return false
        }
    }

    /// An integer with an N-bit prefix (RFC 7541 §5.1).
    static func writeInteger(_ value: Int, prefixBits: Int, flags: UInt8, into out: inout ByteBuffer) {
        let limit = (1 << prefixBits) - 1
        if value < limit {
            out.writeInteger(flags | UInt8(value))
            return
        }
        out.writeInteger(flags | UInt8(limit))
        var rest = value - limit
        while rest >= 128 {
            out.writeInteger(UInt8(rest & 0x7f | 0x80))
            rest >>= 7
        }
        out.writeInteger(UInt8(rest))
    }

    /// The static table's index of a response field's name (RFC 7541 Appendix A).
    static func staticIndex(of name: some Collection<UInt8>) -> Int? {
        for (index, entry) in Self.staticNames where entry.utf8.count == name.count && entry.utf8.elementsEqual(name) {
            return index
        }
        return nil
    }

    private static let staticNames: [(Int, String)] = [
        (18, "accept-ranges"), (20, "access-control-allow-origin"), (21, "age"), (22, "allow"), (24, "cache-control"),
        (25, "content-disposition"), (26, "content-encoding"), (27, "content-language"), (28, "content-length"),
        (29, "content-location"), (30, "content-range"), (31, "content-type"), (33, "date"), (34, "etag"), (36, "expires"),
        (44, "last-modified"), (45, "link"), (46, "location"), (53, "retry-after"), (54, "server"), (55, "set-cookie"),
        (56, "strict-transport-security"), (59, "vary"), (60, "via"), (61, "www-authenticate"),
    ]
}
