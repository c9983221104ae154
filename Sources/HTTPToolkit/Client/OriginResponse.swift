import NIOCore
import NIOHTTP1

/// A complete origin response, as collected by ``OriginClient/fetch(_:from:on:maxBodySize:)``.
package struct OriginResponse: Sendable {
    /// The response head.
    package var head: HTTPResponseHead
    /// The whole body.
    package var body: ByteBuffer
}
