/// Percent-encoding (RFC 3986 §2.1) of URL paths and query components, and its decoding.
package enum PercentCoding {
    /// Encodes every byte of `text` except the unreserved characters (letters, digits,
    /// `-._~`), and `/` when `keepingSlashes`: for a query value or a path segment.
    package static func encode(_ text: some StringProtocol, keepingSlashes: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if Self.isUnreserved(byte) || (keepingSlashes && byte == UInt8(ascii: "/")) {
                out.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                out.append("%")
                out.append(Self.upperDigit(byte >> 4))
                out.append(Self.upperDigit(byte & 0xF))
            }
        }
        return out
    }

    /// Decodes `%XX` escapes (and `+` as a space when `plusAsSpace`, as HTML forms send query
    /// values); nil when a `%` is not followed by two hex digits.
    package static func decode(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String? {
        var bytes = Array(text.utf8)
        if plusAsSpace {
            for i in bytes.indices where bytes[i] == UInt8(ascii: "+") { bytes[i] = UInt8(ascii: " ") }
        }
        let count = bytes.withUnsafeMutableBytes { buffer in Self.decode(UnsafeRawBufferPointer(buffer), into: buffer) }
        guard let count else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    /// Decodes `%XX` escapes from `input` into `output` (at least as long; it may be the same
    /// memory) without allocating: for the request path.
    /// - Returns: the bytes written, or nil when a `%` is not followed by two hex digits.
    @inlinable
    package static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        var i = 0
        var n = 0
        while i < input.count {
            var c = input[i]
            if c == UInt8(ascii: "%") {
                guard i + 2 < input.count, let hi = Hex.nibble(input[i + 1]), let lo = Hex.nibble(input[i + 2]) else {
                    return nil
                }
                c = hi << 4 | lo
                i += 2
            }
            output[n] = c
            n += 1
            i += 1
        }
        return n
    }

    /// The `name=value` pairs of a query (`a=1&b=x%20y`), decoded, in order; a pair whose
    /// escapes are malformed is returned with `value` nil so that the caller can refuse it.
    package static func queryItems(_ query: some StringProtocol) -> [(name: String, value: String?)] {
        query.split(separator: "&").map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0], plusAsSpace: true) ?? String(parts[0])
            return (name, Self.decode(parts.count > 1 ? parts[1] : "", plusAsSpace: true))
        }
    }

    @inline(__always)
    private static func isUnreserved(_ c: UInt8) -> Bool {
        c &- 97 < 26 || c &- 65 < 26 || c &- 48 < 10 || c == 45 || c == 46 || c == 95 || c == 126
    }

    private static func upperDigit(_ value: UInt8) -> Character {
        Character(UnicodeScalar(value < 10 ? 48 + value : 55 + value))
    }
}
