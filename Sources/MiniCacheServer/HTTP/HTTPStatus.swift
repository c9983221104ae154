/// The response statuses the data plane sends.
package enum HTTPStatus: Int, Sendable {
    case ok = 200
    case partialContent = 206
    case temporaryRedirect = 307
    case notModified = 304
    case badRequest = 400
    case notFound = 404
    case methodNotAllowed = 405
    case requestTimeout = 408
    case lengthRequired = 411
    case preconditionFailed = 412
    case contentTooLarge = 413
    case uriTooLong = 414
    case rangeNotSatisfiable = 416
    case headersTooLarge = 431
    case internalServerError = 500
    case notImplemented = 501
    case badGateway = 502
    case serviceUnavailable = 503
    case gatewayTimeout = 504
    case versionNotSupported = 505

    package var code: Int { self.rawValue }

    package var reason: String {
        switch self {
        case .ok: "OK"
        case .partialContent: "Partial Content"
        case .temporaryRedirect: "Temporary Redirect"
        case .notModified: "Not Modified"
        case .badRequest: "Bad Request"
        case .notFound: "Not Found"
        case .methodNotAllowed: "Method Not Allowed"
        case .requestTimeout: "Request Timeout"
        case .lengthRequired: "Length Required"
        case .preconditionFailed: "Precondition Failed"
        case .contentTooLarge: "Content Too Large"
        case .uriTooLong: "URI Too Long"
        case .rangeNotSatisfiable: "Range Not Satisfiable"
        case .headersTooLarge: "Request Header Fields Too Large"
        case .internalServerError: "Internal Server Error"
        case .notImplemented: "Not Implemented"
        case .badGateway: "Bad Gateway"
        case .serviceUnavailable: "Service Unavailable"
        case .gatewayTimeout: "Gateway Timeout"
        case .versionNotSupported: "HTTP Version Not Supported"
        }
    }

    /// `HTTP/1.1 <code> <reason>\r\n`
    package var statusLine: String { "HTTP/1.1 \(self.code) \(self.reason)\r\n" }

    /// Index of the status class (1xx ... 5xx) for the bounded per-class counters.
    package var classIndex: Int { self.rawValue / 100 }
}
