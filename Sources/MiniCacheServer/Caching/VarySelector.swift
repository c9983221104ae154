import HTTPToolkit
import NIOHTTP1

/// The request header fields a response's `Vary` nominates (RFC 9111 §4.1), and how their
/// values are normalised into a secondary cache key.
package struct VarySelector: Sendable, Hashable {
    /// Nominated field names, lower-cased, de-duplicated and sorted, so `Vary: B, a` and
    /// `Vary: A, b` select the same variants.
    package private(set) var names: [String]
    /// `Vary: *`: the response never matches a later request.
    package private(set) var isWildcard: Bool

    /// The selector of a response with no `Vary`.
    package static let none = VarySelector(names: [], isWildcard: false)

    /// Creates a selector from names as given (they are normalised).
    package init(names: [String], isWildcard: Bool = false) {
        self.names = Array(Set(names.map { $0.lowercased() })).sorted()
        self.isWildcard = isWildcard
    }

    /// Reads every `Vary` field line of a response.
    package init(responseHeaders: HTTPHeaders) {
        var names: [String] = []
        var wildcard = false
        for line in responseHeaders["vary"] {
            for element in HTTPListParser.elements(line) {
                if element == "*" { wildcard = true } else { names.append(String(element)) }
            }
        }
        self.init(names: names, isWildcard: wildcard)
    }

    /// Whether the response varies on nothing.
    package var isEmpty: Bool { names.isEmpty && !isWildcard }

    /// The normalised values of the nominated fields in `requestHeaders`, one per name, `nil`
    /// for a field the request does not carry (an absent field only matches an absent field).
    package func values(from requestHeaders: HTTPHeaders) -> [String?] {
        names.map { Self.normalisedValue(of: $0, in: requestHeaders) }
    }

    /// Several field lines are combined with ", " and whitespace around list commas is
    /// collapsed, the normalisations §4.1 permits for every field.
    static func normalisedValue(of name: String, in headers: HTTPHeaders) -> String? {
        let lines = headers[name]
        guard !lines.isEmpty else { return nil }
        return lines.flatMap { HTTPListParser.elements(Substring($0)) }.joined(separator: ", ")
    }
}
