import NIOCore
import NIOHTTP1

/// A complete response from a responder of ``HTTPServer``; the server adds `Content-Length`,
/// `Server` and, when the connection closes, `Connection: close`.
package struct HTTPResponse: Sendable {
    /// The status.
    package var status: HTTPResponseStatus
    /// The header fields.
    package var headers: HTTPHeaders
    /// The body (left out of answers to HEAD).
    package var body: ByteBuffer

    /// Creates a response.
    package init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A text body, not to be cached.
    package static func text(_ status: HTTPResponseStatus, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType, "Cache-Control": "no-store"], body: ByteBuffer(string: text))
    }

    /// `value` as a JSON document (``JSON``), not to be cached; a value JSON cannot represent
    /// answers 500 with the reason.
    package static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok, style: JSON.Style = .compact) -> HTTPResponse {
        do {
            let body = try JSON.encode(value, style: style)
            return HTTPResponse(status: status, headers: ["Content-Type": "application/json", "Cache-Control": "no-store"], body: body)
        } catch {
            return .text(.internalServerError, "cannot encode the answer: \(error)\n")
        }
    }

    /// A `302 Found` to `location`, not to be cached.
    package static func redirect(to location: String) -> HTTPResponse {
        HTTPResponse(status: .found, headers: ["Location": location, "Cache-Control": "no-store"])
    }
}

/// Turns a request into a response: what an ``HTTPServer`` serves.
package typealias HTTPResponder = @Sendable (HTTPRequest) async -> HTTPResponse

/// What an ``HTTPImmediateResponder`` answers.
package enum HTTPAnswer: Sendable {
    /// The response, made at once on the connection's event loop.
    case now(HTTPResponse)
    /// Work that has to wait for something; the server runs it in a task.
    case later(@Sendable () async -> HTTPResponse)
}

/// Answers a request on the connection's event loop when it can, without a task or a thread hop
/// (a router's decision from its local view), and hands the rest to a task. It must not block.
package typealias HTTPImmediateResponder = @Sendable (HTTPRequest) -> HTTPAnswer
