import HTTPToolkit
import NIOHTTP1

extension CacheRules {
    /// The conditional header fields that revalidate `stored` (RFC 9111 §4.3.1):
    /// `If-None-Match` from its `ETag` and `If-Modified-Since` from its `Last-Modified`.
    package func validationHeaders(for stored: StoredResponse) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let etag = stored.entityTag { headers.add(name: "If-None-Match", value: etag) }
        if let lastModified = stored.lastModified { headers.add(name: "If-Modified-Since", value: lastModified) }
        return headers
    }

    /// The request to send to the origin to revalidate `stored` for `request`: the client's
    /// request with its own conditionals replaced by the cache's validators.
    package func conditionalRequest(for request: HTTPRequestHead, stored: StoredResponse) -> HTTPRequestHead {
        var head = request
        head.method = .GET
        for name in ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"] {
            head.headers.remove(name: name)
        }
        for (name, value) in validationHeaders(for: stored) { head.headers.add(name: name, value: value) }
        return head
    }

    /// The stored response updated with a `304 Not Modified` (RFC 9111 §3.2, §4.3.4) or with
    /// the head of a 200 response to HEAD (§4.3.5), or
    /// `nil` when the 304 names a different representation (its strong `ETag` differs, or it has
    /// no `ETag` and a different `Last-Modified`), in which case the stored response is not
    /// updated and the request should be repeated without conditions.
    ///
    /// Every field of the new response replaces the stored fields of that name, except the fields a cache
    /// never stores (§3.1) and `Content-Length`; the times become the revalidation's.
    package func updating(
        _ stored: StoredResponse,
        with notModified: HTTPResponseHead,
        requestTime: Int64,
        responseTime: Int64
    ) -> StoredResponse? {
        let newTag = notModified.headers.first(name: "etag")
        if let newTag {
            guard let oldTag = stored.entityTag, Self.weakCompare(oldTag, newTag) else { return nil }
        } else if let newModified = notModified.headers.first(name: "last-modified"), stored.entityTag == nil,
            let oldModified = stored.lastModified, oldModified != newModified
        {
            return nil
        }

        var excluded = StoredResponse.unstoredFields
        excluded.insert("content-length")
        if configuration.isShared {
            let directives = TargetedField.select(configuration.targetedFields, in: notModified.headers)?.directives
            excluded.formUnion((directives ?? CacheControl(headers: notModified.headers)).privateFields)
        }
        let incoming = StoredResponse.storableHeaders(notModified.headers, excluding: excluded)

        var merged = stored.headers
        var replaced = Set<String>()
        for (name, _) in incoming {
            let lower = name.lowercased()
            if replaced.insert(lower).inserted { merged.remove(name: lower) }
        }
        for (name, value) in incoming { merged.add(name: name, value: value) }

        var updated = stored
        updated.replaceHeaders(merged, requestTime: requestTime, responseTime: responseTime, targets: configuration.targetedFields)
        return updated
    }

    /// Weak comparison of entity tags (RFC 9110 §8.8.3.2): equal opaque tags, `W/` ignored.
    package static func weakCompare(_ a: String, _ b: String) -> Bool {
        func opaque(_ tag: String) -> Substring {
            let trimmed = Substring(tag).trimmingOWS()
            return trimmed.hasPrefix("W/") ? trimmed.dropFirst(2) : trimmed
        }
        return opaque(a) == opaque(b)
    }
}
