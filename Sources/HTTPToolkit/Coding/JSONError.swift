/// A JSON document that could not be written or read.
package struct JSONError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    package var message: String

    /// Creates an error.
    package init(_ message: String) { self.message = message }

    package var description: String { message }
}
