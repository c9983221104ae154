import NIOHTTP1

/// A response status: the data plane's own answers and whatever an origin sends that is relayed.
package struct HTTPStatus: Hashable, Sendable {
    /// The three-digit status code.
    package let code: Int

    package init(code: Int) {
        self.code = code
    }

    package init(_ status: HTTPResponseStatus) {
        self.code = Int(status.code)
    }

    package static let ok = HTTPStatus(code: 200)
    package static let partialContent = HTTPStatus(code: 206)
    package static let notModified = HTTPStatus(code: 304)
    package static let temporaryRedirect = HTTPStatus(code: 307)
    package static let badRequest = HTTPStatus(code: 400)
    package static let notFound = HTTPStatus(code: 404)
    package static let methodNotAllowed = HTTPStatus(code: 405)
    package static let requestTimeout = HTTPStatus(code: 408)
    package static let lengthRequired = HTTPStatus(code: 411)
    package static let preconditionFailed = HTTPStatus(code: 412)
    package static let contentTooLarge = HTTPStatus(code: 413)
    package static let uriTooLong = HTTPStatus(code: 414)
    package static let rangeNotSatisfiable = HTTPStatus(code: 416)
    package static let headersTooLarge = HTTPStatus(code: 431)
    package static let internalServerError = HTTPStatus(code: 500)
    package static let notImplemented = HTTPStatus(code: 501)
    package static let badGateway = HTTPStatus(code: 502)
    package static let serviceUnavailable = HTTPStatus(code: 503)
    package static let gatewayTimeout = HTTPStatus(code: 504)
    package static let versionNotSupported = HTTPStatus(code: 505)

    /// The reason phrase of RFC 9110 §15 (as NIO knows them; empty for unregistered codes).
    package var reason: String {
        switch self.code {
        case 200: "OK"
        case 206: "Partial Content"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 404: "Not Found"
        case 413: "Content Too Large"
        case 416: "Range Not Satisfiable"
        default: HTTPResponseStatus(statusCode: self.code).reasonPhrase
        }
    }

    /// `HTTP/1.1 <code> <reason>\r\n`
    package var statusLine: String { "HTTP/1.1 \(self.code) \(self.reason)\r\n" }

    /// Whether a response with this status has content and its framing (not 1xx, 204, 304:
    /// RFC 9110 §6.4.1).
    package var hasContent: Bool {
        !(self.code < 200 || self.code == 204 || self.code == 304)
    }

    /// The status class, 1 (1xx) to 5 (5xx), for the bounded per-class counters.
    package var classIndex: Int { self.code / 100 }
}
