import HTTPToolkit
import NIOHTTP1

/// What the cache keeps of a response to answer later requests without the origin: the
/// status, the end-to-end header fields, the request and response times of §4.2.3, and the
/// values of the request fields its `Vary` nominated.
package struct StoredResponse: Sendable, Equatable {
    /// The response status code.
    package private(set) var status: Int
    /// The stored header fields (hop-by-hop fields and `private="..."` fields removed, §3.1).
    package private(set) var headers: HTTPHeaders
    /// When the request that produced this response was sent (or the last revalidation's).
    package private(set) var requestTime: Int64
    /// When the response was received (or the last revalidation's 304).
    package private(set) var responseTime: Int64
    /// The `Vary` of the response.
    package private(set) var vary: VarySelector
    /// The normalised values of `vary.names` in the request that produced the response.
    package private(set) var varyValues: [String?]
    /// The body length when it is known to be complete, else `nil`.
    package var bodyLength: UInt64?
    /// The request target (path and query) the response answers, kept for purges; nil when unknown.
    package var url: String?
    /// When the cache stored the response (nanoseconds since the epoch; 0 when unknown): orders
    /// objects stored in the same second when eviction state is rebuilt.
    package var storedAt: Int64 = 0

    /// The directives the cache obeys: those of ``targetedField`` when there is one, else the
    /// parsed `Cache-Control` of ``headers``.
    package private(set) var cacheControl: CacheControl
    /// The targeted field (RFC 9213) whose directives replace `Cache-Control` and `Expires`.
    package private(set) var targetedField: TargetedField?
    /// The parsed times of ``headers``.
    package private(set) var times: Times

    /// Creates a stored response from a received one.
    /// - Parameters:
    ///   - requestHeaders: the headers of the request forwarded to the origin (for `Vary`).
    ///   - response: the origin's response head.
    ///   - requestTime: when the request was sent (seconds since the epoch).
    ///   - responseTime: when the response head was received.
    ///   - isShared: whether `private="..."` field names must be dropped.
    ///   - targets: the targeted fields obeyed over `Cache-Control` (first valid one wins).
    package init(
        requestHeaders: HTTPHeaders,
        response: HTTPResponseHead,
        requestTime: Int64,
        responseTime: Int64,
        isShared: Bool = true,
        targets: [TargetedField] = [.cdnCacheControl]
    ) {
        let targeted = TargetedField.select(targets, in: response.headers)
        let cacheControl = targeted?.directives ?? CacheControl(headers: response.headers)
        let excluded: Set<String> = isShared ? Set(cacheControl.privateFields) : []
        let vary = VarySelector(responseHeaders: response.headers)
        self.init(
            status: Int(response.status.code),
            headers: Self.storableHeaders(response.headers, excluding: excluded),
            requestTime: requestTime,
            responseTime: responseTime,
            vary: vary,
            varyValues: vary.values(from: requestHeaders),
            bodyLength: nil,
            targetedField: targeted?.field
        )
    }

    /// Creates a stored response from its parts, as decoded from storage.
    package init(
        status: Int,
        headers: HTTPHeaders,
        requestTime: Int64,
        responseTime: Int64,
        vary: VarySelector,
        varyValues: [String?],
        bodyLength: UInt64?,
        targetedField: TargetedField? = nil
    ) {
        self.status = status
        self.headers = headers
        self.requestTime = requestTime
        self.responseTime = responseTime
        self.vary = vary
        self.varyValues = varyValues
        self.bodyLength = bodyLength
        let targeted = targetedField.flatMap { field in field.directives(in: headers).map { (field, $0) } }
        self.targetedField = targeted?.0
        self.cacheControl = targeted?.1 ?? CacheControl(headers: headers)
        self.times = Times(headers: headers, responseTime: responseTime, ignoringExpires: targeted != nil)
    }

    /// The `ETag` value, if any.
    package var entityTag: String? { headers.first(name: "etag") }

    /// The `Last-Modified` value, if any.
    package var lastModified: String? { headers.first(name: "last-modified") }

    /// Whether the response carries a validator (`ETag` or `Last-Modified`).
    package var hasValidator: Bool { entityTag != nil || lastModified != nil }

    /// Whether this stored response was selected by a request with these headers (§4.1).
    package func varyMatches(_ requestHeaders: HTTPHeaders) -> Bool {
        guard !vary.isWildcard else { return false }
        return vary.values(from: requestHeaders) == varyValues
    }

    /// Fields a cache does not store or forward (RFC 9111 §3.1): hop-by-hop fields, the fields
    /// `Connection` lists, and proxy authentication fields.
    static let unstoredFields: Set<String> = [
        "connection", "proxy-connection", "keep-alive", "te", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authentication-info", "proxy-authorization",
    ]

    static func storableHeaders(_ headers: HTTPHeaders, excluding extra: Set<String>) -> HTTPHeaders {
        var excluded = unstoredFields.union(extra)
        for line in headers["connection"] {
            for option in HTTPListParser.elements(line) { excluded.insert(option.lowercased()) }
        }
        var result = HTTPHeaders()
        result.reserveCapacity(headers.count)
        for (name, value) in headers where !excluded.contains(name.lowercased()) {
            result.add(name: name, value: value)
        }
        return result
    }

    mutating func replaceHeaders(_ headers: HTTPHeaders, requestTime: Int64, responseTime: Int64, targets: [TargetedField]) {
        let targeted = TargetedField.select(targets, in: headers)
        self.headers = headers
        self.requestTime = requestTime
        self.responseTime = responseTime
        self.targetedField = targeted?.field
        self.cacheControl = targeted?.directives ?? CacheControl(headers: headers)
        self.times = Times(headers: headers, responseTime: responseTime, ignoringExpires: targeted != nil)
    }
}
