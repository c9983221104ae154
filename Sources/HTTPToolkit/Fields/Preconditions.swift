/// Evaluation of conditional requests (RFC 9110 §13.2.2) against one representation.
package enum Preconditions {
    package enum Outcome: Sendable, Equatable {
        case proceed
        case notModified
        case preconditionFailed
    }

    /// Evaluates the conditional fields of a request in the order RFC 9110 §13.2.2 gives: the one
    /// implementation for local objects and stored responses (RFC 9111 §4.3.2).
    /// - Parameters:
    ///   - etag: the representation's entity tag without quotes, nil when it has none.
    ///   - weakETag: whether that tag is weak (it then never matches `If-Match`).
    ///   - lastModified: Unix seconds, nil when unknown.
    ///   - isGetOrHead: a matching `If-None-Match` answers 304 for GET and HEAD, else 412;
    ///     `If-Modified-Since` only applies to GET and HEAD.
    package static func evaluate(
        ifMatch: [[UInt8]]?,
        ifUnmodifiedSince: [UInt8]?,
        ifNoneMatch: [[UInt8]]?,
        ifModifiedSince: [UInt8]?,
        etag: [UInt8]?,
        weakETag: Bool = false,
        lastModified: Int64?,
        isGetOrHead: Bool = true
    ) -> Outcome {
        if let ifMatch {
            if !Self.listMatches(ifMatch, etag: etag, etagIsWeak: weakETag, weak: false) { return .preconditionFailed }
        } else if let value = ifUnmodifiedSince, let date = HTTPDate.parse(value), let lastModified, lastModified > date {
            return .preconditionFailed
        }
        if let ifNoneMatch {
            if Self.listMatches(ifNoneMatch, etag: etag, etagIsWeak: weakETag, weak: true) {
                return isGetOrHead ? .notModified : .preconditionFailed
            }
        } else if isGetOrHead, let value = ifModifiedSince, let date = HTTPDate.parse(value), let lastModified, lastModified <= date {
            return .notModified
        }
        return .proceed
    }

    /// Splits an entity tag as sent (`"x"` or `W/"x"`) into its opaque part and weakness.
    package static func parseEntityTag(_ value: String) -> (opaque: [UInt8], weak: Bool)? {
        guard let tags = Self.entityTags(Array(value.utf8)), tags.count == 1 else { return nil }
        return (tags[0].opaque, tags[0].weak)
    }

    /// Whether an `If-Range` value lets the range apply (RFC 9110 §13.1.5): a strong match of the
    /// entity tag, or an HTTP-date exactly equal to Last-Modified.
    package static func ifRangeHolds(_ value: [UInt8], etag: [UInt8], lastModified: Int64) -> Bool {
        if value.first == 34 || value.starts(with: [87, 47]) {
            guard let tags = Self.entityTags(value), tags.count == 1 else { return false }
            return !tags[0].weak && tags[0].opaque == etag
        }
        return HTTPDate.parse(value) == lastModified
    }

    static func listMatches(_ lines: [[UInt8]], etag: [UInt8]?, etagIsWeak: Bool, weak: Bool) -> Bool {
        for line in lines {
            let trimmed = line.filter { $0 != 32 && $0 != 9 }
            if trimmed == [42] { return true }
            guard let etag, weak || !etagIsWeak, let tags = Self.entityTags(line) else { continue }
            for tag in tags where tag.opaque == etag && (weak || !tag.weak) { return true }
        }
        return false
    }

    /// Parses `#entity-tag`; nil if malformed.
    static func entityTags(_ value: [UInt8]) -> [(weak: Bool, opaque: [UInt8])]? {
        var tags: [(weak: Bool, opaque: [UInt8])] = []
        var i = 0
        let n = value.count
        while i < n {
            while i < n, value[i] == 32 || value[i] == 9 || value[i] == 44 { i += 1 }
            if i == n { break }
            var weak = false
            if value[i] == 87, i + 1 < n, value[i + 1] == 47 {
                weak = true
                i += 2
            }
            guard i < n, value[i] == 34 else { return nil }
            i += 1
            let start = i
            while i < n, value[i] != 34 { i += 1 }
            guard i < n else { return nil }
            tags.append((weak, Array(value[start..<i])))
            i += 1
        }
        return tags
    }
}
