/// An immutable open-addressing hash map from byte strings to small integers, looked up straight
/// from request bytes without allocating a key.
package struct BytesIndex: Sendable {
    private var keys: [[UInt8]?]
    private var values: [Int32]
    private var mask: Int

    package init() {
        self.keys = [nil]
        self.values = [0]
        self.mask = 0
    }

    /// Builds an index; later duplicates of a key do not replace the first.
    package init(_ pairs: [([UInt8], Int)]) {
        var capacity = 8
        while capacity < pairs.count * 2 { capacity *= 2 }
        self.keys = Array(repeating: nil, count: capacity)
        self.values = Array(repeating: 0, count: capacity)
        self.mask = capacity - 1
        for (key, value) in pairs {
            var slot = Int(truncatingIfNeeded: Self.hash(key.withUnsafeBytes { $0 })) & self.mask
            while let existing = self.keys[slot] {
                if existing == key { break }
                slot = (slot + 1) & self.mask
            }
            if self.keys[slot] == nil {
                self.keys[slot] = key
                self.values[slot] = Int32(value)
            }
        }
    }

    package func lookup(_ key: UnsafeRawBufferPointer) -> Int? {
        var slot = Int(truncatingIfNeeded: Self.hash(key)) & self.mask
        while let existing = self.keys[slot] {
            if existing.count == key.count,
                existing.withUnsafeBytes({ $0.elementsEqual(key) })
            {
                return Int(self.values[slot])
            }
            slot = (slot + 1) & self.mask
        }
        return nil
    }

    package func lookup(_ key: [UInt8]) -> Int? {
        key.withUnsafeBytes { self.lookup($0) }
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3
        }
        return h ^ (h >> 29)
    }
}
