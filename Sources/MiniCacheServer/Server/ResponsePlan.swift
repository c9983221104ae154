/// What a responder decided to send for one request, independent of the framing:
/// ``HTTP1ResponseWriter`` writes a plan as HTTP/1.1 bytes, and an HTTP/2 stream can write the
/// same plan as frames (the plan names the status, the representation and the part of it to
/// send; the prepared HTTP/1.1 field bytes are one way of writing them).
package enum ResponsePlan {
    /// A representation from the volume — a local object or a stored response — or the part of
    /// it the request selects.
    case representation(Representation, Representation.Selection)
    /// A short error response with a text body.
    /// - closing: the connection closes after it (malformed requests, refused bodies).
    /// - allow: the `Allow` field of a `405`.
    case error(HTTPStatus, closing: Bool = false, allow: StaticString? = nil)
    /// `307` to the target of a redirect link.
    case redirect(PreparedObject)
    /// A response relayed from upstream: a link's remote host, or the cache's origin.
    case relay(UpstreamRequest)

    /// The status of the response, as far as it is known before it is sent (a relay's comes
    /// from upstream: `200` here).
    package var status: HTTPStatus {
        switch self {
        case .representation(let representation, let selection): representation.status(of: selection)
        case .error(let status, _, _): status
        case .redirect: .temporaryRedirect
        case .relay: .ok
        }
    }
}
