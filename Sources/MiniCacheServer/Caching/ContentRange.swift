import HTTPToolkit

/// A single-part `Content-Range` value with a byte range (RFC 9110 §14.4): `bytes 4-9/10`, or
/// `bytes 4-9/*` when the sender does not know the complete length.
package struct ContentRange: Sendable, Equatable {
    /// The first byte position.
    package var first: Int64
    /// The last byte position (inclusive).
    package var last: Int64
    /// The length of the whole representation, when known.
    package var completeLength: Int64?

    /// Parses `value`; nil when it is not a valid byte range (an unsatisfied range `bytes */10`,
    /// another unit, a last position before the first or past the complete length).
    package init?(_ value: String) {
        let text = Substring(value).trimmingOWS()
        guard text.count > 6, text.prefix(6).lowercased() == "bytes " else { return nil }
        let spec = text.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-"), let slash = spec.firstIndex(of: "/"), dash < slash,
            let first = Self.number(spec[spec.startIndex..<dash]), let last = Self.number(spec[spec.index(after: dash)..<slash]),
            first <= last
        else { return nil }
        let complete = spec[spec.index(after: slash)...]
        if complete == "*" {
            self.completeLength = nil
        } else {
            guard let length = Self.number(complete), last < length else { return nil }
            self.completeLength = length
        }
        self.first = first
        self.last = last
    }

    /// The number of bytes in the range.
    package var count: Int64 { self.last - self.first + 1 }

    private static func number(_ digits: Substring) -> Int64? {
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }
}
