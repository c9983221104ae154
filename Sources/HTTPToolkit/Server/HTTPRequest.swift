import NIOCore
import NIOHTTP1

/// One complete request as a responder of ``HTTPServer`` sees it.
package struct HTTPRequest: Sendable {
    /// The method.
    package var method: HTTPMethod
    /// The request target as sent.
    package var uri: String
    /// The target without its query.
    package var path: String
    /// What follows `?`, or empty.
    package var query: String
    /// The header fields.
    package var headers: HTTPHeaders
    /// The body (empty without one).
    package var body: ByteBuffer
    /// The peer, as the socket reports it.
    package var remoteAddress: SocketAddress?
    /// The peer's IP address as text (`127.0.0.1`), empty without one; the server works it out
    /// once per connection.
    package var remoteIP: String

    /// Creates a request; `path` and `query` are split from `uri`, `remoteIP` defaults to the
    /// text of `remoteAddress`'s IP.
    package init(
        method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer(), remoteAddress: SocketAddress? = nil,
        remoteIP: String? = nil
    ) {
        self.method = method
        self.uri = uri
        let question = uri.firstIndex(of: "?")
        self.path = String(uri[..<(question ?? uri.endIndex)])
        self.query = question.map { String(uri[uri.index(after: $0)...]) } ?? ""
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.remoteIP = remoteIP ?? remoteAddress?.ipAddress ?? ""
    }

    /// The first value of `name` in the query, percent-decoded; nil when absent or badly encoded.
    package func queryItem(_ name: String) -> String? {
        PercentCoding.queryItems(query).first { $0.name == name }?.value
    }

    /// Every value of `name` in the query, percent-decoded, in order (empty when absent); nil
    /// when one of them is badly percent-encoded, so the caller can answer 400.
    package func queryItems(_ name: String) -> [String]? {
        var values: [String] = []
        for item in PercentCoding.queryItems(query) where item.name == name {
            guard let value = item.value else { return nil }
            values.append(value)
        }
        return values
    }
}
