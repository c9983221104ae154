import NIOHTTP1

/// The head of a response relayed from upstream, as the server sends it on: the status, the
/// end-to-end fields and the body length upstream gave. The writer adds `Date` (unless upstream
/// sent one), `Server` (likewise), the connection field and the framing.
package struct RelayHead {
    package var status: HTTPStatus
    /// End-to-end fields, without `Content-Length` and `Transfer-Encoding`.
    package var fields: HTTPHeaders
    /// The body length, when upstream gave one.
    package var contentLength: Int?
    /// The `X-Cache` label of a cache response (sent with `Via`); nil for a link.
    package var label: CacheLabel?

    package init(status: HTTPStatus, fields: HTTPHeaders, contentLength: Int?, label: CacheLabel?) {
        self.status = status
        self.fields = fields
        self.contentLength = contentLength
        self.label = label
    }
}
