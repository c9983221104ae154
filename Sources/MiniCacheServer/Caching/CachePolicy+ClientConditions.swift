import NIOHTTP1

extension CachePolicy {
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
        let etag = stored.entityTag
        let lastModified = stored.times.lastModified
        let isGetOrHead = request.method == .GET || request.method == .HEAD

        let ifMatch = request.headers["if-match"]
        if !ifMatch.isEmpty {
            if !Self.listMatches(ifMatch, etag: etag, strong: true) { return .preconditionFailed }
        } else if let since = request.headers.first(name: "if-unmodified-since").flatMap({ HTTPDate.parse($0) }),
            let lastModified, lastModified > since
        {
            return .preconditionFailed
        }

        let ifNoneMatch = request.headers["if-none-match"]
        if !ifNoneMatch.isEmpty {
            if Self.listMatches(ifNoneMatch, etag: etag, strong: false) { return isGetOrHead ? .notModified : .preconditionFailed }
        } else if isGetOrHead, let since = request.headers.first(name: "if-modified-since").flatMap({ HTTPDate.parse($0) }),
            let lastModified, lastModified <= since
        {
            return .notModified
        }
        return .proceed
    }

    // `*` matches any current representation; otherwise one listed tag must match (§13.1.1, §13.1.2).
    private static func listMatches(_ lines: [String], etag: String?, strong: Bool) -> Bool {
        let tags = lines.flatMap { HTTPListParser.elements($0) }
        if tags.contains("*") { return true }
        guard let etag else { return false }
        return tags.contains { tag in
            if strong {
                return !tag.hasPrefix("W/") && !etag.hasPrefix("W/") && tag == Substring(etag)
            }
            return weakCompare(String(tag), etag)
        }
    }
}
