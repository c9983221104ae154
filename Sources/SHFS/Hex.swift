/// Hexadecimal text of digests.
enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hex of `bytes`.
    static func string(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var i = 0
            for b in bytes {
                out[i] = digits[Int(b >> 4)]
                out[i + 1] = digits[Int(b & 0xF)]
                i += 2
            }
            return i
        }
    }

    static func byte(_ b: UInt8) -> String { string(CollectionOfOne(b)) }

    @inline(__always)
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    /// Decodes exactly `count` bytes of case-insensitive hex into `out`; false if the text is not exactly that.
    @inline(__always)
    static func decode(_ text: some StringProtocol, count: Int, into out: UnsafeMutableRawBufferPointer) -> Bool {
        if let ok = text.utf8.withContiguousStorageIfAvailable({ decode($0, count: count, into: out) }) { return ok }
        var copy = String(text)
        return copy.withUTF8 { decode($0, count: count, into: out) }
    }

    @inline(__always)
    private static func decode(_ chars: UnsafeBufferPointer<UInt8>, count: Int, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard chars.count == count * 2 else { return false }
        for i in 0..<count {
            guard let hi = nibble(chars[2 * i]), let lo = nibble(chars[2 * i + 1]) else { return false }
            out[i] = hi << 4 | lo
        }
        return true
    }

    /// Decodes case-insensitive hex text into bytes, or nil if it is not an even run of hex digits.
    static func bytes(_ text: some StringProtocol) -> [UInt8]? {
        let n = text.utf8.count
        guard n % 2 == 0 else { return nil }
        var result = [UInt8](repeating: 0, count: n / 2)
        let ok = result.withUnsafeMutableBytes { decode(text, count: n / 2, into: $0) }
        return ok ? result : nil
    }
}
