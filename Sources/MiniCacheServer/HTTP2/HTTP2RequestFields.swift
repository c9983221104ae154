import NIOCore
import NIOHPACK

/// A request's HTTP/2 fields (RFC 9113 §8.3) as the HTTP/1.1 request head that
/// ``HTTPRequestParser`` reads, so that both protocols accept and refuse the same requests; and
/// their size as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it.
enum HTTP2RequestFields {
    /// The size of a field list as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it (RFC 9113 §6.5.2).
    static func listSize(_ fields: HPACKHeaders) -> Int {
        var size = 0
        for (name, value, _) in fields { size += name.utf8.count + value.utf8.count + 32 }
        return size
    }

    /// Writes the request's fields as an HTTP/1.1 request head; false when they cannot be one: a
    /// malformed request (RFC 9113 §8.2, §8.3: no `:method`, `:scheme` or `:path`, a pseudo-header
    /// field that is not a request's, repeated or after the others, connection-specific fields), or
    /// bytes that would end a line or a name early.
    static func writeHead(_ fields: HPACKHeaders, bodyLength: Int?, into out: inout ByteBuffer) -> Bool {
        var method: String?
        var path: String?
        var authority: String?
        var hasScheme = false
        var pastPseudoHeaders = false
        for (name, value, _) in fields {
            guard name.utf8.first == UInt8(ascii: ":") else {
                pastPseudoHeaders = true
                continue
            }
            guard !pastPseudoHeaders else { return false }
            switch name {
            case ":method" where method == nil: method = value
            case ":path" where path == nil: path = value
            case ":authority" where authority == nil: authority = value
            case ":scheme" where !hasScheme: hasScheme = true
            default: return false
            }
        }
        guard let method, let path, hasScheme, Self.isSafe(method, name: true), Self.isSafe(path, name: true) else { return false }
        out.writeString(method)
        out.writeStaticString(" ")
        out.writeString(path)
        out.writeStaticString(" HTTP/1.1\r\n")
        if let authority {
            guard Self.isSafe(authority, name: false) else { return false }
            out.writeStaticString("host: ")
            out.writeString(authority)
            out.writeStaticString("\r\n")
        }
        for (name, value, _) in fields where name.utf8.first != UInt8(ascii: ":") {
            if name == "host", authority != nil { continue }
            // Connection-specific fields make a request malformed (RFC 9113 §8.2.2).
            switch name {
            case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade": return false
            case "te" where value != "trailers": return false
            default: break
            }
            if name == "content-length", bodyLength != nil { continue }
            guard Self.isSafe(name, name: true, lowercase: true), Self.isSafe(value, name: false) else { return false }
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if let bodyLength {
            out.writeStaticString("content-length: ")
            out.writeString(String(bodyLength))
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
        return true
    }

    /// No CR, LF or NUL (they would split the head), and for names and the request line no
    /// space or colon either (values may have both: `gzip, deflate`), and no uppercase letters
    /// in names (RFC 9113 §8.2.1); the parser checks the rest.
    private static func isSafe(_ text: String, name: Bool, lowercase: Bool = false) -> Bool {
        for byte in text.utf8 {
            switch byte {
            case 0, 10, 13: return false
            case 32 where name, 58 where name: return false
            case UInt8(ascii: "A")...UInt8(ascii: "Z") where lowercase: return false
            default: continue
            }
        }
        return true
    }
}
