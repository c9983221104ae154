import NIOHTTP1

extension RelayHead {
    /// An interim response from upstream as the server relays it (RFC 9110 §15.2): its
    /// end-to-end fields, no framing. Nil for `100 Continue`, which answers an expectation the
    /// server met itself (it sends a request's whole body with its head, and tells its own
    /// client to go on), and for anything that is not an interim status.
    init?(interim head: HTTPResponseHead) {
        guard (102..<200).contains(head.status.code) else { return nil }
        var fields = PullThroughCache.endToEnd(head.headers)
        fields.remove(name: "content-length")
        self.init(status: HTTPStatus(head.status), fields: fields, contentLength: nil, label: nil)
    }
}
