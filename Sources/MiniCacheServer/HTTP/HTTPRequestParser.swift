import NIOCore

/// Why a request head was refused. Every case ends the connection after its answer.
package enum HTTPParseError: Error, Sendable, Equatable {
    /// Malformed syntax or a framing ambiguity (RFC 9112 §2.2, §5, §6.3): 400.
    case badRequest(String)
    /// The request line is longer than the limit (RFC 9112 §3): 414.
    case uriTooLong
    /// The header section is larger than the limit or has too many lines (RFC 6585 §5): 431.
    case headersTooLarge
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (RFC 9110 §15.6.6): 505.
    case versionNotSupported

    package var status: HTTPStatus {
        switch self {
        case .badRequest: .badRequest
        case .uriTooLong: .uriTooLong
        case .headersTooLarge: .headersTooLarge
        case .versionNotSupported: .versionNotSupported
        }
    }
}

/// The result of one parse attempt over the buffered bytes.
package enum HTTPParseResult: Sendable {
    /// More bytes are needed.
    case incomplete
    /// A complete head, `head.headLength` bytes long.
    case request(RequestHead)
    case failure(HTTPParseError)
}

/// A strict, allocation-free HTTP/1.x request-head parser (RFC 9112) working directly on the
/// bytes received. It accepts exactly CRLF line endings, tokens for methods and field names,
/// visible characters in targets and field values, and refuses every framing ambiguity a proxy
/// in front of the server could read differently.
package struct HTTPRequestParser: Sendable {
    package var maxRequestLineLength: Int
    package var maxHeaderBytes: Int
    package var maxHeaderCount: Int

    package init(maxRequestLineLength: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100) {
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
    }

    /// Parses the head at the start of `buffer`'s readable bytes without consuming them.
    @inlinable
    package func parse(_ buffer: ByteBuffer) -> HTTPParseResult {
        buffer.withUnsafeReadableBytes { self.parse($0) }
    }

    package func parse(_ p: UnsafeRawBufferPointer) -> HTTPParseResult {
        let n = p.count
        var i = 0
        // RFC 9112 §2.2: ignore at least one empty line before the request line.
        while i + 1 < n, p[i] == 13, p[i + 1] == 10, i < 4 { i += 2 }
        if i < n, p[i] == 13 || p[i] == 10 {
            if i + 1 >= n, p[i] == 13 { return .incomplete }
            return .failure(.badRequest("empty line before the request line"))
        }
        let lineStart = i
        var head = RequestHead()

        // Method: a token followed by one SP.
        let methodStart = i
        while i < n, p[i] != 32 {
            guard Self.isTokenChar(p[i]) else { return .failure(.badRequest("invalid character in method")) }
            i += 1
            if i - methodStart > 32 { return .failure(.badRequest("method too long")) }
        }
        if i == n { return i - lineStart > self.maxRequestLineLength ? .failure(.uriTooLong) : .incomplete }
        guard i > methodStart else { return .failure(.badRequest("missing method")) }
        head.method = Self.classify(p, methodStart, i - methodStart)
        i += 1

        // Target: visible ASCII, then one SP.
        let targetStart = i
        while i < n, p[i] != 32 {
            let c = p[i]
            guard c > 32, c < 127 else { return .failure(.badRequest("invalid character in request target")) }
            i += 1
        }
        if i - lineStart > self.maxRequestLineLength { return .failure(.uriTooLong) }
        if i == n { return .incomplete }
        guard i > targetStart else { return .failure(.badRequest("missing request target")) }
        switch Self.originForm(p, targetStart, i) {
        case .some(let range): head.target = range
        case .none: return .failure(.badRequest("request target is neither origin-form nor absolute-form"))
        }
        i += 1

        // Version: HTTP/D.D CRLF
        if n - i < 10 {
            // Validate what is there so garbage fails fast.
            let want: StaticString = "HTTP/"
            var k = 0
            while i + k < n, k < 5 {
                guard p[i + k] == want.utf8Start[k] else { return .failure(.badRequest("invalid HTTP version")) }
                k += 1
            }
            return .incomplete
        }
        guard p[i] == 72, p[i + 1] == 84, p[i + 2] == 84, p[i + 3] == 80, p[i + 4] == 47,
            Self.isDigit(p[i + 5]), p[i + 6] == 46, Self.isDigit(p[i + 7])
        else { return .failure(.badRequest("invalid HTTP version")) }
        guard p[i + 8] == 13, p[i + 9] == 10 else { return .failure(.badRequest("request line does not end in CRLF")) }
        if p[i + 5] != 49 { return .failure(.versionNotSupported) }
        switch p[i + 7] {
        case 49: head.minorVersion = 1
        case 48: head.minorVersion = 0
        default: return .failure(.versionNotSupported)
        }
        i += 10
        if i - lineStart > self.maxRequestLineLength { return .failure(.uriTooLong) }

        // Header section.
        let headersStart = i
        var count = 0
        var contentLengthSeen = false
        var closeToken = false
        var keepAliveToken = false
        while true {
            if i - headersStart > self.maxHeaderBytes { return .failure(.headersTooLarge) }
            if i == n { return .incomplete }
            let c = p[i]
            if c == 13 {
                if i + 1 == n { return .incomplete }
                guard p[i + 1] == 10 else { return .failure(.badRequest("bare CR")) }
                i += 2
                break
            }
            if c == 32 || c == 9 { return .failure(.badRequest("obsolete line folding")) }
            count += 1
            if count > self.maxHeaderCount { return .failure(.headersTooLarge) }
            let nameStart = i
            while i < n, p[i] != 58 {
                let b = p[i]
                guard Self.isTokenChar(b) else {
                    if b == 32 || b == 9 { return .failure(.badRequest("whitespace before the colon")) }
                    return .failure(.badRequest("invalid character in field name"))
                }
                i += 1
            }
            if i == n { return i - headersStart > self.maxHeaderBytes ? .failure(.headersTooLarge) : .incomplete }
            let nameLength = i - nameStart
            guard nameLength > 0 else { return .failure(.badRequest("empty field name")) }
            i += 1
            while i < n, p[i] == 32 || p[i] == 9 { i += 1 }
            let valueStart = i
            var valueEnd = i
            while i < n {
                let b = p[i]
                if b == 13 { break }
                if b < 32 && b != 9 || b == 127 {
                    return .failure(.badRequest(b == 10 ? "bare LF" : "control character in field value"))
                }
                i += 1
                if b != 32 && b != 9 { valueEnd = i }
            }
            if i + 1 >= n { return i - headersStart > self.maxHeaderBytes ? .failure(.headersTooLarge) : .incomplete }
            guard p[i + 1] == 10 else { return .failure(.badRequest("bare CR")) }
            i += 2
            let value = FieldRange(start: valueStart, count: valueEnd - valueStart)

            switch Self.fieldKind(p, nameStart, nameLength) {
            case .other:
                break
            case .host:
                guard head.host == nil else { return .failure(.badRequest("more than one Host field")) }
                guard Self.isValidHost(p, value) else { return .failure(.badRequest("invalid Host")) }
                head.host = value
            case .contentLength:
                guard !contentLengthSeen else { return .failure(.badRequest("more than one Content-Length field")) }
                contentLengthSeen = true
                guard value.count > 0, value.count <= 15 else { return .failure(.badRequest("invalid Content-Length")) }
                var length = 0
                for k in value.lowerBound..<value.upperBound {
                    guard Self.isDigit(p[k]) else { return .failure(.badRequest("invalid Content-Length")) }
                    length = length * 10 + Int(p[k] &- 48)
                }
                head.contentLength = length
            case .transferEncoding:
                head.hasTransferEncoding = true
            case .connection:
                Self.scanConnection(p, value, close: &closeToken, keepAlive: &keepAliveToken)
            case .range:
                if head.range != nil { head.ambiguousRange = true }
                head.range = value
            case .ifRange:
                head.ifRange = value
            case .ifMatch:
                if head.ifMatch == nil { head.ifMatch = value } else { head.extraIfMatch = (head.extraIfMatch ?? []) + [value] }
            case .ifNoneMatch:
                if head.ifNoneMatch == nil {
                    head.ifNoneMatch = value
                } else {
                    head.extraIfNoneMatch = (head.extraIfNoneMatch ?? []) + [value]
                }
            case .ifModifiedSince:
                head.ifModifiedSince = value
            case .ifUnmodifiedSince:
                head.ifUnmodifiedSince = value
            case .cacheControl:
                head.cacheControl = (head.cacheControl ?? []) + [value]
            case .pragma:
                head.hasPragma = true
            }
        }

        // RFC 9112 §6.1 / §6.3: framing ambiguities that enable request smuggling.
        if head.hasTransferEncoding {
            if contentLengthSeen { return .failure(.badRequest("both Transfer-Encoding and Content-Length")) }
            if head.minorVersion == 0 { return .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request")) }
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused.
        if head.minorVersion == 1, head.host == nil { return .failure(.badRequest("missing Host")) }
        head.keepAlive = head.minorVersion == 1 ? !closeToken : keepAliveToken && !closeToken
        head.headLength = i
        return .request(head)
    }

    // MARK: - Character classes

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    /// `tchar` of RFC 9110 §5.6.2.
    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool {
        if c &- 97 < 26 || c &- 65 < 26 || c &- 48 < 10 { return true }
        switch c {
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true
        default: return false
        }
    }

    @inline(__always)
    static func equalsLowercase(_ p: UnsafeRawBufferPointer, _ start: Int, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        let l = literal.utf8Start
        for k in 0..<count where p[start + k] | 0x20 != l[k] { return false }
        return true
    }

    static func classify(_ p: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> RequestMethod {
        // Methods are case-sensitive (RFC 9110 §9.1).
        switch length {
        case 3:
            if p[start] == 71, p[start + 1] == 69, p[start + 2] == 84 { return .get }
            if p[start] == 80, p[start + 1] == 85, p[start + 2] == 84 { return .notAllowed }
        case 4:
            if p[start] == 72, p[start + 1] == 69, p[start + 2] == 65, p[start + 3] == 68 { return .head }
            if Self.matches(p, start, "POST") { return .notAllowed }
        case 5:
            if Self.matches(p, start, "TRACE") || Self.matches(p, start, "PATCH") { return .notAllowed }
        case 6:
            if Self.matches(p, start, "DELETE") { return .notAllowed }
        case 7:
            if Self.matches(p, start, "OPTIONS") || Self.matches(p, start, "CONNECT") { return .notAllowed }
        default:
            break
        }
        return .unknown
    }

    @inline(__always)
    static func matches(_ p: UnsafeRawBufferPointer, _ start: Int, _ literal: StaticString) -> Bool {
        let l = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount where p[start + k] != l[k] { return false }
        return true
    }

    /// Reduces the target to path and query: origin-form as is, absolute-form (RFC 9112 §3.2.2)
    /// without scheme and authority. `*` (asterisk-form) is kept as is for the method check.
    static func originForm(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> FieldRange? {
        if p[start] == 47 { return FieldRange(start: start, count: end - start) }
        if end - start == 1, p[start] == 42 { return FieldRange(start: start, count: 1) }
        var k = start
        if end - start > 7, Self.equalsLowercase(p, start, "http://") {
            k += 7
        } else if end - start > 8, Self.equalsLowercase(p, start, "https://") {
            k += 8
        } else {
            return nil
        }
        let authorityStart = k
        while k < end, p[k] != 47, p[k] != 63 { k += 1 }
        guard k > authorityStart else { return nil }
        return FieldRange(start: k, count: end - k)
    }

    /// `uri-host [ ":" port ]` characters; IPv6 literals in brackets.
    static func isValidHost(_ p: UnsafeRawBufferPointer, _ value: FieldRange) -> Bool {
        for k in value.lowerBound..<value.upperBound {
            let c = p[k]
            if c &- 97 < 26 || c &- 65 < 26 || c &- 48 < 10 { continue }
            switch c {
            case 45, 46, 95, 126, 33, 36, 38, 39, 40, 41, 42, 43, 44, 59, 61, 58, 91, 93, 37: continue
            default: return false
            }
        }
        return true
    }

    enum FieldKind {
        case other, host, contentLength, transferEncoding, connection, range, ifRange
        case ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince, cacheControl, pragma
    }

    @inline(__always)
    static func fieldKind(_ p: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> FieldKind {
        switch length {
        case 4: return Self.equalsLowercase(p, start, "host") ? .host : .other
        case 5: return Self.equalsLowercase(p, start, "range") ? .range : .other
        case 6: return Self.equalsLowercase(p, start, "pragma") ? .pragma : .other
        case 8:
            if Self.equalsLowercase(p, start, "if-match") { return .ifMatch }
            if Self.equalsLowercase(p, start, "if-range") { return .ifRange }
            return .other
        case 10: return Self.equalsLowercase(p, start, "connection") ? .connection : .other
        case 13:
            if Self.equalsLowercase(p, start, "if-none-match") { return .ifNoneMatch }
            if Self.equalsLowercase(p, start, "cache-control") { return .cacheControl }
            return .other
        case 14: return Self.equalsLowercase(p, start, "content-length") ? .contentLength : .other
        case 17:
            if Self.equalsLowercase(p, start, "if-modified-since") { return .ifModifiedSince }
            if Self.equalsLowercase(p, start, "transfer-encoding") { return .transferEncoding }
            return .other
        case 19: return Self.equalsLowercase(p, start, "if-unmodified-since") ? .ifUnmodifiedSince : .other
        default: return .other
        }
    }

    /// Scans the comma-separated `Connection` options for `close` and `keep-alive`.
    static func scanConnection(_ p: UnsafeRawBufferPointer, _ value: FieldRange, close: inout Bool, keepAlive: inout Bool) {
        var k = value.lowerBound
        let end = value.upperBound
        while k < end {
            while k < end, p[k] == 32 || p[k] == 9 || p[k] == 44 { k += 1 }
            let tokenStart = k
            while k < end, p[k] != 44, p[k] != 32, p[k] != 9 { k += 1 }
            let length = k - tokenStart
            if length == 5, Self.equalsLowercase(p, tokenStart, "close") { close = true }
            if length == 10, Self.equalsLowercase(p, tokenStart, "keep-alive") { keepAlive = true }
        }
    }
}
