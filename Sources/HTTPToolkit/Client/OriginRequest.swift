import NIOCore
import NIOHTTP1

/// A request to send to an origin.
package struct OriginRequest: Sendable {
    /// The request head; its `uri` is the origin-form target. A missing `Host` is added.
    package var head: HTTPRequestHead
    /// The request body, sent whole with a `Content-Length`.
    package var body: ByteBuffer?

    /// Creates a request.
    package init(head: HTTPRequestHead, body: ByteBuffer? = nil) {
        self.head = head
        self.body = body
    }

    /// A GET (or other bodiless) request for `target` with `headers`.
    package init(method: HTTPMethod = .GET, target: String, headers: HTTPHeaders = [:]) {
        self.init(head: HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers))
    }

    /// Whether the request may be sent again after the connection failed before any response
    /// byte arrived (RFC 9110 §9.2.2).
    var isIdempotent: Bool {
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
        default: return false
        }
    }
}
