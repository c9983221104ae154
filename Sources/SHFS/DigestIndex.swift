#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing index from digest to entry, built once at open: O(1) lookups with no
/// allocation, independent of how full the volume's buckets are.
///
/// Each slot is one `UInt32`: a 4-bit tag from the digest's hash and the entry index + 1 (0 is
/// empty). The table stays small (512 KiB for 100,000 entries), so a lookup is usually one cache
/// line of table plus the digest it confirms; the tag skips most other digests on the way.
package struct DigestIndex: Sendable {
    private let digestLength: Int
    /// Entry digests, back to back (`digestLength` bytes each).
    private let digests: [UInt8]
    /// Power-of-two table of `tag << 28 | (index + 1)`, 0 for empty.
    private let table: [UInt32]
    private let mask: Int

    /// Entries an index can hold (28 bits of index).
    static let capacity = (1 << 28) - 2

    static let empty = DigestIndex(digests: [], count: 0, digestLength: 32)

    private init(digests: [UInt8], count: Int, digestLength: Int) {
        var none: [(Int, Int)] = []
        self.init(digests: digests, count: count, digestLength: digestLength, duplicates: &none)
    }

    /// Indexes `count` (at most ``capacity``) digests stored back to back; a digest seen again is
    /// not indexed and is reported in `duplicates` as (first index, later index).
    init(digests flat: [UInt8], count: Int, digestLength: Int, duplicates: inout [(Int, Int)]) {
        precondition(count <= Self.capacity)
        self.digestLength = digestLength
        var size = 16
        while size < count + count / 4 { size <<= 1 }
        var table = [UInt32](repeating: 0, count: size)
        let mask = size - 1
        flat.withUnsafeBytes { d in
            table.withUnsafeMutableBufferPointer { t in
                for i in 0..<count {
                    let p = d.baseAddress! + i * digestLength
                    let (position, tag) = Self.hash(UnsafeRawBufferPointer(start: p, count: digestLength))
                    var h = position & mask
                    var duplicate = false
                    while t[h] != 0 {
                        let j = Int(t[h] & 0x0FFF_FFFF) - 1
                        if t[h] >> 28 == tag, Self.equal(d.baseAddress! + j * digestLength, p, digestLength) {
                            duplicates.append((j, i))
                            duplicate = true
                            break
                        }
                        h = (h + 1) & mask
                    }
                    if !duplicate { t[h] = tag << 28 | UInt32(i + 1) }
                }
            }
        }
        self.digests = flat
        self.table = table
        self.mask = mask
    }

    /// Table position and 4-bit tag of a digest.
    @inline(__always)
    private static func hash(_ d: UnsafeRawBufferPointer) -> (Int, UInt32) {
        let key: UInt64
        if d.count >= 12 {
            key = d.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
        } else {
            var k: UInt64 = 0
            for b in d { k = k << 8 | UInt64(b) }
            key = k
        }
        let h = key &* 0x9E37_79B9_7F4A_7C15
        return (Int(truncatingIfNeeded: h >> 32), UInt32(truncatingIfNeeded: h >> 28) & 0xF)
    }

    /// The index of the entry with digest `d`, or nil.
    @inline(__always)
    func find(_ d: UnsafeRawBufferPointer) -> Int? {
        guard d.count == digestLength else { return nil }
        let (position, tag) = Self.hash(d)
        return table.withUnsafeBufferPointer { t in
            digests.withUnsafeBytes { all in
                var h = position & mask
                while true {
                    let slot = t[h]
                    if slot == 0 { return nil }
                    if slot >> 28 == tag {
                        let i = Int(slot & 0x0FFF_FFFF) - 1
                        if Self.equal(all.baseAddress! + i * digestLength, d.baseAddress!, digestLength) { return i }
                    }
                    h = (h + 1) & mask
                }
            }
        }
    }

    /// Word-wise comparison: inlined, it beats a `memcmp` call for 32-byte digests.
    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }
}
