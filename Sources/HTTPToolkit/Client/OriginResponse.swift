import NIOCore
import NIOHTTP1

/// A complete origin response, as collected by
/// ``OriginClient/fetch(_:from:localAddress:on:timeout:keepBody:maxBodySize:)``.
package struct OriginResponse: Sendable {
    /// The response head.
    package var head: HTTPResponseHead
    /// The whole body (empty when the fetch counted bytes only).
    package var body: ByteBuffer
    /// Body bytes received.
    package var bodyLength: Int

    /// Creates a response; `bodyLength` defaults to the body's size.
    package init(head: HTTPResponseHead, body: ByteBuffer, bodyLength: Int? = nil) {
        self.head = head
        self.body = body
        self.bodyLength = bodyLength ?? body.readableBytes
    }

    /// The status.
    package var status: HTTPResponseStatus { head.status }

    /// The header fields.
    package var headers: HTTPHeaders { head.headers }
}
