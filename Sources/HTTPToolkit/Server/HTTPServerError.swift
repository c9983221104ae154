/// Why an ``HTTPServer`` could not start.
package struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    /// What failed and what to do.
    package var message: String
    /// The error underneath, if any.
    package var cause: (any Error)?

    /// Creates an error.
    package init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    package var description: String { message }
}
