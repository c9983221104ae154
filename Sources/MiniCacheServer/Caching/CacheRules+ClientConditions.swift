import HTTPToolkit
import NIOHTTP1

extension CacheRules {
    /// The result of a client's preconditions against a stored response.
    package enum ClientConditionResult: Sendable, Equatable {
        /// Serve the response.
        case proceed
        /// Answer `304 Not Modified` with the stored validators and caching fields.
        case notModified
        /// Answer `412 Precondition Failed`.
        case preconditionFailed
    }

    /// Evaluates the request's `If-Match`, `If-Unmodified-Since`, `If-None-Match` and
    /// `If-Modified-Since` against a stored response, in the order of RFC 9110 §13.2.2, so a
    /// hit (or a response just validated) can answer 304 or 412 from the cache (RFC 9111 §4.3.2).
    ///
    /// `If-Range` and `Range` are left to the range logic.
    package func clientConditions(request: HTTPRequestHead, stored: StoredResponse) -> ClientConditionResult {
        func lines(_ name: String) -> [[UInt8]]? {
            let values = request.headers[name]
            return values.isEmpty ? nil : values.map { Array($0.utf8) }
        }
        let tag = stored.entityTag.flatMap { Preconditions.parseEntityTag($0) }
        let outcome = Preconditions.evaluate(
            ifMatch: lines("if-match"),
            ifUnmodifiedSince: request.headers.first(name: "if-unmodified-since").map { Array($0.utf8) },
            ifNoneMatch: lines("if-none-match"),
            ifModifiedSince: request.headers.first(name: "if-modified-since").map { Array($0.utf8) },
            etag: tag?.opaque,
            weakETag: tag?.weak ?? false,
            lastModified: stored.times.lastModified,
            isGetOrHead: request.method == .GET || request.method == .HEAD
        )
        switch outcome {
        case .proceed: return .proceed
        case .notModified: return .notModified
        case .preconditionFailed: return .preconditionFailed
        }
    }

    /// Whether a request carries a precondition field the cache answers itself (§4.3.2).
    package static func hasConditionals(_ headers: HTTPHeaders) -> Bool {
        headers.contains(name: "if-none-match") || headers.contains(name: "if-match") || headers.contains(name: "if-modified-since")
            || headers.contains(name: "if-unmodified-since")
    }

    /// Whether an `If-Range` value lets a range of `stored` apply (RFC 9110 §13.1.5): a strong
    /// entity-tag match, or a date equal to `Last-Modified`.
    package static func ifRangeHolds(_ value: String, stored: StoredResponse) -> Bool {
        let bytes = Array(Substring(value).trimmingOWS().utf8)
        let isTag = bytes.first == 34 || bytes.starts(with: [87, 47])
        let tag = stored.entityTag.flatMap { Preconditions.parseEntityTag($0) }
        if isTag, tag == nil || tag!.weak { return false }
        return Preconditions.ifRangeHolds(bytes, etag: tag?.opaque ?? [], lastModified: stored.times.lastModified ?? Int64.min)
    }
}
