import HTTPToolkit
import NIOHTTP1

/// Answers requests for the objects of the mounted volume: local objects with the fields prepared
/// at mount, after the request's preconditions and range; redirect links with `307`; raw and
/// auto links by relaying their remote host.
package struct VolumeResponder: Sendable {
    package init() {}

    /// The plan for a GET or HEAD of `object`, which the request's target names.
    /// - Parameter bytes: the buffered bytes `head` was parsed from (the head at offset 0).
    package func respond(to head: RequestHead, in bytes: UnsafeRawBufferPointer, object: PreparedObject) -> ResponsePlan {
        switch object.kind {
        case .file:
            // The fast path: no conditional or range field to look at.
            if head.isPlain { return .representation(Representation(object), .whole) }
            return .representation(Representation(object), Self.select(head, in: bytes, object: object))
        case .redirect:
            return .redirect(object)
        case .proxy(let link):
            return .relay(.link(link, object))
        }
    }

    /// What the request's preconditions (RFC 9110 §13.2.2), then its range (§14.2) and
    /// `If-Range` (§13.1.5), select of a local object.
    static func select(_ head: RequestHead, in bytes: UnsafeRawBufferPointer, object: PreparedObject) -> Representation.Selection {
        func field(_ range: FieldRange?) -> [UInt8]? {
            range.map { Array(bytes[$0.lowerBound..<$0.upperBound]) }
        }
        func list(_ first: FieldRange?, _ more: [FieldRange]?) -> [[UInt8]]? {
            guard let first else { return nil }
            return [field(first)!] + (more ?? []).map { field($0)! }
        }
        let outcome = Preconditions.evaluate(
            ifMatch: list(head.ifMatch, head.extraIfMatch),
            ifUnmodifiedSince: field(head.ifUnmodifiedSince),
            ifNoneMatch: list(head.ifNoneMatch, head.extraIfNoneMatch),
            ifModifiedSince: field(head.ifModifiedSince),
            etag: object.etag,
            lastModified: object.lastModified
        )
        return Representation.Selection(outcome) {
            guard let range = field(head.range), !head.ambiguousRange else { return .whole }
            let applies = field(head.ifRange).map {
                Preconditions.ifRangeHolds($0, etag: object.etag, lastModified: object.lastModified)
            } ?? true
            return applies ? ByteRanges.resolve(range, length: object.length) : .whole
        }
    }

    /// The head of a link's relayed `200`: the object's fields (`Server`, `ETag`,
    /// `Last-Modified`) with the remote's `Content-Type`, `Content-Encoding` and length.
    package func linkHead(_ object: PreparedObject, upstream head: HTTPResponseHead) -> RelayHead {
        var fields = HTTPHeaders()
        for line in object.commonFields.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.add(name: String(line[..<colon]), value: String(line[line.index(after: colon)...].drop { $0 == " " }))
        }
        fields.add(name: "Content-Type", value: head.headers.first(name: "content-type") ?? "application/octet-stream")
        if let encoding = head.headers.first(name: "content-encoding") { fields.add(name: "Content-Encoding", value: encoding) }
        return RelayHead(status: .ok, fields: fields, contentLength: head.headers.first(name: "content-length").flatMap { Int($0) }, label: nil)
    }
}
