#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing index from digest to entry, built once at open: O(1) lookups with no
/// allocation, independent of how full the volume's buckets are.
package struct DigestIndex: Sendable {
    private let digestLength: Int
    /// Entry digests, back to back (`digestLength` bytes each).
    private let digests: [UInt8]
    /// Power-of-two table of entry indices, -1 for empty.
    private let table: [Int32]
    private let mask: Int

    static let empty = DigestIndex(digests: [], count: 0, digestLength: 32)

    private init(digests: [UInt8], count: Int, digestLength: Int) {
        var none: [(Int, Int)] = []
        self.init(digests: digests, count: count, digestLength: digestLength, duplicates: &none)
    }

    /// Indexes `count` digests stored back to back; a digest seen again is not indexed and is
    /// reported in `duplicates` as (first index, later index).
    init(digests flat: [UInt8], count: Int, digestLength: Int, duplicates: inout [(Int, Int)]) {
        self.digestLength = digestLength
        var size = 16
        while size < count * 2 { size <<= 1 }
        var table = [Int32](repeating: -1, count: size)
        let mask = size - 1
        flat.withUnsafeBytes { d in
            table.withUnsafeMutableBufferPointer { t in
                for i in 0..<count {
                    let p = d.baseAddress! + i * digestLength
                    var h = Self.hash(UnsafeRawBufferPointer(start: p, count: digestLength)) & mask
                    while t[h] >= 0 {
                        if memcmp(d.baseAddress! + Int(t[h]) * digestLength, p, digestLength) == 0 {
                            duplicates.append((Int(t[h]), i))
                            break
                        }
                        h = (h + 1) & mask
                    }
                    if t[h] < 0 { t[h] = Int32(i) }
                }
            }
        }
        self.digests = flat
        self.table = table
        self.mask = mask
    }

    @inline(__always)
    private static func hash(_ d: UnsafeRawBufferPointer) -> Int {
        let key: UInt64
        if d.count >= 12 {
            key = d.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
        } else {
            var k: UInt64 = 0
            for b in d { k = k << 8 | UInt64(b) }
            key = k
        }
        return Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32)
    }

    /// The index of the entry with digest `d`, or nil.
    @inline(__always)
    func find(_ d: UnsafeRawBufferPointer) -> Int? {
        guard d.count == digestLength else { return nil }
        return table.withUnsafeBufferPointer { t in
            digests.withUnsafeBytes { all in
                var h = Self.hash(d) & mask
                while true {
                    let i = Int(t[h])
                    if i < 0 { return nil }
                    if Self.equal(all.baseAddress! + i * digestLength, d.baseAddress!, digestLength) { return i }
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
