#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing index from digest to entry, built once at open: O(1) lookups with no
/// allocation, independent of how full the volume's buckets are.
struct DigestIndex: Sendable {
    private let digestLength: Int
    /// Entry digests, back to back (`digestLength` bytes each).
    private let digests: [UInt8]
    /// Power-of-two table of entry indices, -1 for empty.
    private let table: [Int32]
    private let mask: Int

    init(entries: [Entry], digestLength: Int) {
        self.digestLength = digestLength
        var flat = [UInt8]()
        flat.reserveCapacity(entries.count * digestLength)
        for e in entries { flat.append(contentsOf: e.digest) }
        var size = 16
        while size < entries.count * 2 { size <<= 1 }
        var table = [Int32](repeating: -1, count: size)
        let mask = size - 1
        flat.withUnsafeBytes { d in
            for i in 0..<entries.count {
                var h = Self.hash(UnsafeRawBufferPointer(rebasing: d[(i * digestLength)..<((i + 1) * digestLength)])) & mask
                while table[h] >= 0 { h = (h + 1) & mask }
                table[h] = Int32(i)
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
                    if memcmp(all.baseAddress! + i * digestLength, d.baseAddress!, digestLength) == 0 { return i }
                    h = (h + 1) & mask
                }
            }
        }
    }
}
