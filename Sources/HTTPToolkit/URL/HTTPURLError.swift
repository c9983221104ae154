/// A URL or `host:port` text that ``HTTPURL`` or ``HostPort`` cannot read.
package struct HTTPURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text as given.
    package var text: String
    /// What is wrong with it.
    package var reason: String

    /// Creates an error.
    package init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    /// `'text': reason`.
    package var description: String { "'\(text)': \(reason)" }
}
