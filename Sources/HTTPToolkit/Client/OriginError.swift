/// Why a request to an origin failed. An origin's error status (e.g. 503) is not an
/// ``OriginError``: it arrives as a response.
package struct OriginError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case connectFailed, connectTimeout, tlsFailed, readTimeout, timeout, connectionReset, truncatedBody, badResponse
            case cancelled, shutdown, differentVariant, notShareable
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The TCP connection could not be established (refused, unreachable, DNS failure).
        package static let connectFailed = Code(.connectFailed)
        /// The TCP connection was not established within the connect timeout.
        package static let connectTimeout = Code(.connectTimeout)
        /// The TLS handshake with an `https://` origin failed: its certificate is expired, names
        /// another host, or is not signed by a trusted CA; or no protocol or cipher is shared.
        package static let tlsFailed = Code(.tlsFailed)
        /// The origin sent nothing for longer than the read timeout.
        package static let readTimeout = Code(.readTimeout)
        /// The whole exchange took longer than the deadline its caller gave.
        package static let timeout = Code(.timeout)
        /// The connection closed before a response head arrived.
        package static let connectionReset = Code(.connectionReset)
        /// The connection closed, or broke, before the body was complete (short of its
        /// `Content-Length` or without the last chunk).
        package static let truncatedBody = Code(.truncatedBody)
        /// The origin's bytes are not a valid HTTP/1 response.
        package static let badResponse = Code(.badResponse)
        /// The request was cancelled by its caller.
        package static let cancelled = Code(.cancelled)
        /// A coalesced response varies (`Vary`) on a request field the joining request differs in.
        package static let differentVariant = Code(.differentVariant)
        /// A coalesced response is for its requester only (private, no-store, personal).
        package static let notShareable = Code(.notShareable)
        /// The client was shut down.
        package static let shutdown = Code(.shutdown)

        package var description: String { String(describing: base) }
    }

    /// The kind of failure.
    package var code: Code
    /// The origin concerned.
    package var origin: OriginAddress
    /// What happened and what to do.
    package var message: String
    /// The underlying error, if any.
    package var cause: (any Error)?

    /// Creates an error.
    package init(_ code: Code, origin: OriginAddress, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.origin = origin
        self.message = message
        self.cause = cause
    }

    /// Whether a gateway should answer 504 (timeouts) rather than 502.
    package var isTimeout: Bool { code == .connectTimeout || code == .readTimeout || code == .timeout }

    package var description: String {
        var text = "origin \(origin): \(message)"
        if let cause { text += " (\(cause))" }
        return text
    }
}
