/// Lower-case hexadecimal text of bytes (digests, cache keys, chunk sizes) and its decoding.
///
/// The encoders write into caller-provided or exactly-sized storage; ``nibble(_:)`` is inlinable
/// for the request path.
package enum Hex {
    /// `0123456789abcdef`.
    private static let alphabet: StaticString = "0123456789abcdef"

    /// Lower-case hex of `bytes`.
    package static func string(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            Self.encode(bytes, into: UnsafeMutableRawBufferPointer(out))
        }
    }

    /// The first `count` hex digits of `bytes` as ASCII bytes (a digest prefix).
    package static func digits(_ bytes: some Collection<UInt8>, count: Int) -> [UInt8] {
        let count = min(count, bytes.count * 2)
        return [UInt8](unsafeUninitializedCapacity: bytes.count * 2) { out, initialized in
            _ = Self.encode(bytes, into: UnsafeMutableRawBufferPointer(out))
            initialized = count
        }
    }

    /// Writes the hex of `bytes` into `out` (at least twice as long) and returns the digits written.
    @discardableResult
    package static func encode(_ bytes: some Collection<UInt8>, into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(out.count >= bytes.count * 2, "the output is too short for the hex digits")
        // Not specialised across the module boundary: iterating a generic collection costs a
        // witness call per byte, so contiguous bytes (a digest's array) are read directly.
        if let written = bytes.withContiguousStorageIfAvailable({ Self.encode(UnsafeRawBufferPointer($0), into: out) }) {
            return written
        }
        return Array(bytes).withUnsafeBytes { Self.encode($0, into: out) }
    }

    /// Writes the hex of contiguous `bytes` into `out` (at least twice as long).
    private static func encode(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        Self.alphabet.withUTF8Buffer { table in
            var i = 0
            for b in bytes {
                out[i] = table[Int(b >> 4)]
                out[i + 1] = table[Int(b & 0xF)]
                i += 2
            }
            return i
        }
    }

    /// The value of one hex digit, in either case; nil for any other byte.
    @inlinable @inline(__always)
    package static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    /// Decodes case-insensitive hex text, or nil if it is not an even run of hex digits.
    package static func bytes(_ text: some StringProtocol) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var result = [UInt8](repeating: 0, count: chars.count / 2)
        for i in result.indices {
            guard let hi = Self.nibble(chars[2 * i]), let lo = Self.nibble(chars[2 * i + 1]) else { return nil }
            result[i] = hi << 4 | lo
        }
        return result
    }
}
