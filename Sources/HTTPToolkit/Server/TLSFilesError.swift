/// Why the certificate, key or CA file of ``TLSFiles`` cannot be used.
package struct TLSFilesError: Error, Sendable, CustomStringConvertible {
    /// What failed and what to do.
    package var message: String
    /// The error underneath, if any.
    package var cause: (any Error)?

    package init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    package var description: String { message }
}
