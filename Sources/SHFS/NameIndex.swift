#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing index from object name to entry, built at open from the raw name bytes
/// (cheaper than a `Dictionary<String, Int>` for 100,000 names). With duplicate names the
/// earliest entry wins.
package struct NameIndex: Sendable {
    /// Names back to back, UTF-8.
    private let bytes: [UInt8]
    /// Start of each entry's name in ``bytes``; `starts[i + 1] - starts[i]` is its length.
    private let starts: [Int32]
    /// Power-of-two table of entry indices, -1 for empty.
    private let table: [Int32]
    /// Each entry's name hash, compared before the bytes.
    private let hashes: [UInt32]
    private let mask: Int

    static let empty = NameIndex(bytes: [], starts: [0])

    /// Indexes names stored back to back: entry `i`'s name is `bytes[starts[i]..<starts[i + 1]]`
    /// (empty names are not indexed).
    init(bytes: [UInt8], starts: [Int32]) {
        let count = starts.count - 1
        var size = 16
        while size < count * 2 { size <<= 1 }
        var table = [Int32](repeating: -1, count: size)
        var hashes = [UInt32](repeating: 0, count: count)
        let mask = size - 1
        bytes.withUnsafeBytes { b in
            starts.withUnsafeBufferPointer { s in
                table.withUnsafeMutableBufferPointer { t in
                    for i in 0..<count where s[i + 1] > s[i] {
                        let name = UnsafeRawBufferPointer(rebasing: b[Int(s[i])..<Int(s[i + 1])])
                        let full = Self.hash(name)
                        hashes[i] = UInt32(truncatingIfNeeded: full)
                        var h = full & mask
                        var duplicate = false
                        while t[h] >= 0 {
                            let j = Int(t[h])
                            if hashes[j] == hashes[i], Self.equal(b, s, j, name) {
                                duplicate = true
                                break
                            }
                            h = (h + 1) & mask
                        }
                        if !duplicate { t[h] = Int32(i) }
                    }
                }
            }
        }
        self.bytes = bytes
        self.starts = starts
        self.table = table
        self.hashes = hashes
        self.mask = mask
    }

    @inline(__always)
    private static func equal(_ b: UnsafeRawBufferPointer, _ s: UnsafeBufferPointer<Int32>, _ j: Int, _ name: UnsafeRawBufferPointer) -> Bool {
        let len = Int(s[j + 1] - s[j])
        return len == name.count && memcmp(b.baseAddress! + Int(s[j]), name.baseAddress!, len) == 0
    }

    /// FNV-1a over the name's bytes.
    @inline(__always)
    static func hash(_ name: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name {
            h = (h ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The index of the entry named `name`, or nil.
    func find(_ name: UnsafeRawBufferPointer) -> Int? {
        guard !name.isEmpty, name.count <= Layout.Entry.nameSize else { return nil }
        let full = Self.hash(name)
        let short = UInt32(truncatingIfNeeded: full)
        return bytes.withUnsafeBytes { b in
            starts.withUnsafeBufferPointer { s in
                table.withUnsafeBufferPointer { t in
                    var h = full & mask
                    while true {
                        let j = Int(t[h])
                        if j < 0 { return nil }
                        if hashes[j] == short, Self.equal(b, s, j, name) { return j }
                        h = (h + 1) & mask
                    }
                }
            }
        }
    }
}
