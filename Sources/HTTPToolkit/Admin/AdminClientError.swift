/// Why an ``AdminClient`` call failed.
package struct AdminClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unreachable, refused, badResponse
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No answer: the listener is down, or the address is wrong.
        package static let unreachable = Code(.unreachable)
        /// The server answered with an error status (the action was refused).
        package static let refused = Code(.refused)
        /// The answer is not the document the API promises.
        package static let badResponse = Code(.badResponse)

        package var description: String { String(describing: base) }
    }

    /// The kind of failure.
    package var code: Code
    /// What happened and what to do.
    package var message: String

    /// Creates an error.
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}
