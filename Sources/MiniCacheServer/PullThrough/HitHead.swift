import NIOCore
import NIOHTTP1

/// The parts of a cached response's head that only depend on the stored response, prepared once:
/// the status line, the stored end-to-end fields (RFC 9111 §4: the stored status and fields are
/// sent, with `Age`), and the fields of a `304` answer to a client's conditional request.
/// A hit writes: status line, `Date` (only when none is stored), connection field, `Age`, fields.
/// A class: every plan of a hit carries it, and a reference is cheaper to pass than its seven parts.
package final class HitHead: Sendable {
    let status: HTTPStatus
    let statusLine: ByteBuffer
    /// Whether the stored fields include `Date` (else the server adds its own).
    let hasDate: Bool
    /// The stored fields, `Via`, `Content-Length` (for statuses with content), the empty line.
    let fields: ByteBuffer
    /// The stored fields without the content framing, for `206` answers (no empty line).
    let rangeFields: String
    /// The fields of a `304`: the validators and caching fields of RFC 9110 §15.4.5, the empty line.
    let notModified: ByteBuffer
    /// The stored `Content-Type`, for the parts of a `206`.
    let contentType: String?
    /// For a stored `206` (RFC 9111 §3.3): where its body starts in the representation, and the
    /// representation's complete length.
    let partialContent: (start: Int64, completeLength: Int64)?

    /// Fields the server writes itself on a hit.
    static let ownFields: Set<String> = ["content-length", "age", "connection", "keep-alive", "transfer-encoding", "x-cache"]
    static let notModifiedFields: Set<String> = [
        "cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified",
    ]

    /// - Parameter withheld: lower-case names of stored fields not sent (the targeted
    ///   cache-control fields this cache obeys, RFC 9213).
    init(_ stored: StoredResponse, bodyLength: Int64, serverName: String, withheld: Set<String> = []) {
        let status = HTTPStatus(code: stored.status)
        self.status = status
        self.statusLine = ByteBuffer(string: status.statusLine)
        self.contentType = stored.headers.first(name: "content-type")
        self.partialContent = stored.partialContent
        let hidden = Set(stored.cacheControl.noCacheFields.map { $0.lowercased() })
        var text = ""
        var notModified = ""
        var hasDate = false
        var hasServer = false
        for (name, value) in stored.headers {
            let lower = name.lowercased()
            if HitHead.ownFields.contains(lower) || hidden.contains(lower) || withheld.contains(lower) { continue }
            if lower == "date" { hasDate = true }
            if lower == "server" { hasServer = true }
            text += "\(name): \(value)\r\n"
            if HitHead.notModifiedFields.contains(lower) { notModified += "\(name): \(value)\r\n" }
        }
        if !hasServer { text = "Server: \(serverName)\r\n" + text }
        text += "Via: 1.1 minicache\r\n"
        notModified += "Via: 1.1 minicache\r\nX-Cache: HIT\r\n\r\n"
        self.hasDate = hasDate
        self.rangeFields = text.split(separator: "\r\n", omittingEmptySubsequences: true)
            .filter { !$0.lowercased().hasPrefix("content-type:") && !$0.lowercased().hasPrefix("content-range:") }
            .map { $0 + "\r\n" }.joined()
        if status.hasContent { text += "Content-Length: \(bodyLength)\r\n" }
        self.fields = ByteBuffer(string: text + "\r\n")
        self.notModified = ByteBuffer(string: notModified)
    }
}
