/// A byte range inside the buffer a request head was parsed from (offsets from its reader index).
package struct FieldRange: Sendable, Equatable {
    package var start: Int32
    package var count: Int32

    package init(start: Int, count: Int) {
        self.start = Int32(truncatingIfNeeded: start)
        self.count = Int32(truncatingIfNeeded: count)
    }

    package var lowerBound: Int { Int(self.start) }
    package var upperBound: Int { Int(self.start) + Int(self.count) }
}

/// The request methods the server tells apart.
package enum RequestMethod: UInt8, Sendable {
    case get
    case head
    /// A registered method the server does not allow on any resource (answered 405 with `Allow`).
    case notAllowed
    /// A syntactically valid but unknown method (answered 501).
    case unknown
}

/// A parsed request head. Field values are offsets into the parsed bytes so that parsing does not
/// allocate; read them through ``HTTPRequestParser`` helpers while the bytes are still buffered.
package struct RequestHead: Sendable {
    package var method: RequestMethod = .get
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    package var minorVersion: UInt8 = 1
    /// The path and query of the target (origin-form; absolute-form is reduced to this).
    package var target = FieldRange(start: 0, count: 0)
    package var keepAlive = true
    package var contentLength = 0
    package var hasTransferEncoding = false
    package var host: FieldRange?
    package var range: FieldRange?
    package var ifRange: FieldRange?
    package var ifMatch: FieldRange?
    package var ifNoneMatch: FieldRange?
    package var ifModifiedSince: FieldRange?
    package var ifUnmodifiedSince: FieldRange?
    /// Further `If-Match` / `If-None-Match` field lines (rare; lists may be split across lines).
    package var extraIfMatch: [FieldRange]? = nil
    package var extraIfNoneMatch: [FieldRange]? = nil
    /// `Cache-Control` lines (request directives for a pull-through cache, RFC 9111 §5.2.1).
    package var cacheControl: [FieldRange]? = nil
    /// Whether a `Pragma` field is present (`no-cache` without `Cache-Control`, RFC 9111 §5.4).
    package var hasPragma = false
    /// A second `Range` line makes the range ambiguous: it is then ignored (RFC 9110 §14.2).
    package var ambiguousRange = false
    /// Length of the request head, including the empty line.
    package var headLength = 0

    package init() {}

    /// Whether any conditional or range field is present (the slow path).
    @inline(__always)
    package var isPlain: Bool {
        self.range == nil && self.ifMatch == nil && self.ifNoneMatch == nil
            && self.ifModifiedSince == nil && self.ifUnmodifiedSince == nil
    }
}
