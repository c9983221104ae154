import HTTPToolkit
import NIOHTTP1

/// Partial content (RFC 9111 §3.3, §3.4; RFC 9110 §14, §15.3.7): a stored `206` holds one byte
/// range of a representation, is served to ranges that fall inside it, and is completed with a
/// range request for the rest when both parts share a strong validator.
extension StoredResponse {
    /// The byte range a stored `206` holds: where its body starts in the representation and the
    /// representation's complete length; nil for any other response, or a `206` without a
    /// single-part `Content-Range` of known complete length.
    package var partialContent: (start: Int64, completeLength: Int64)? {
        guard self.status == 206, let range = self.headers.first(name: "content-range").flatMap(ContentRange.init),
            let complete = range.completeLength
        else { return nil }
        return (range.first, complete)
    }

    /// This response as stored for a body of `bodyLength` bytes: a `206` whose body is the whole
    /// representation becomes the `200` it stands for (RFC 9111 §3.3); a `206` whose body is
    /// longer than its `Content-Range` is nil (not stored). A shorter body is kept as the bytes
    /// it carried, from the range's first position (§3.3: an incomplete response).
    package func storedForm(bodyLength: Int64) -> StoredResponse? {
        guard self.status == 206 else { return self }
        guard let range = self.headers.first(name: "content-range").flatMap(ContentRange.init),
            let complete = range.completeLength, bodyLength <= range.count
        else { return nil }
        guard range.first == 0, bodyLength == complete else { return self }
        var headers = self.headers
        headers.remove(name: "content-range")
        headers.replaceOrAdd(name: "Content-Length", value: String(complete))
        var whole = StoredResponse(
            status: 200, headers: headers, requestTime: self.requestTime, responseTime: self.responseTime, vary: self.vary,
            varyValues: self.varyValues, bodyLength: UInt64(bodyLength), targetedField: self.targetedField)
        whole.url = self.url
        whole.storedAt = self.storedAt
        return whole
    }

    /// The strong validator a completion request's `If-Range` carries (RFC 9110 §13.1.5): a
    /// strong entity tag, else a `Last-Modified` at least 60 s before `Date` (§8.8.2.2); nil
    /// when there is none, and the stored part cannot be combined with another.
    package var strongValidator: String? {
        if let tag = self.entityTag {
            guard let parsed = Preconditions.parseEntityTag(tag), !parsed.weak else { return nil }
            return tag
        }
        guard let modified = self.lastModified, let time = self.times.lastModified, self.times.date - time >= 60 else { return nil }
        return modified
    }

    /// The head of the whole representation when `head`, the origin's `206` to a request for the
    /// rest of this stored prefix of `storedLength` bytes, continues it: it starts right after
    /// the prefix, runs to the end, has the same complete length and the same strong validator
    /// (RFC 9110 §15.3.7.3). Its fields update the stored ones (RFC 9111 §3.4, §3.2); nil when
    /// the parts cannot be combined.
    package func completion(by head: HTTPResponseHead, storedLength: Int64) -> HTTPResponseHead? {
        guard head.status == .partialContent, let validator = self.strongValidator, let extent = self.partialContent,
            extent.start == 0, let range = head.headers.first(name: "content-range").flatMap(ContentRange.init),
            range.first == storedLength, range.completeLength == extent.completeLength, range.last == extent.completeLength - 1
        else { return nil }
        let sameValidator =
            self.entityTag != nil
            ? head.headers.first(name: "etag") == validator
            : head.headers.first(name: "last-modified") == validator && head.headers.first(name: "etag") == nil
        guard sameValidator else { return nil }
        var headers = self.headers
        var replaced = Set<String>()
        for (name, _) in head.headers {
            let lower = name.lowercased()
            guard !Self.unstoredFields.contains(lower), replaced.insert(lower).inserted else { continue }
            headers.remove(name: name)
            for value in head.headers[name] { headers.add(name: name, value: value) }
        }
        headers.remove(name: "content-range")
        headers.remove(name: "transfer-encoding")
        headers.replaceOrAdd(name: "Content-Length", value: String(extent.completeLength))
        return HTTPResponseHead(version: head.version, status: .ok, headers: headers)
    }
}
