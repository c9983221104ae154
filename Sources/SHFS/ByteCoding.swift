/// Little-endian field access on raw volume bytes.
extension UnsafeRawBufferPointer {
    @inline(__always)
    func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        T(littleEndian: self.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A NUL-padded fixed-size string field, decoded up to its first NUL.
    func cString(_ offset: Int, _ size: Int) -> String {
        let field = UnsafeRawBufferPointer(rebasing: self[offset..<(offset + size)])
        let end = field.firstIndex(of: 0) ?? size
        return String(decoding: UnsafeRawBufferPointer(rebasing: field[0..<end]), as: UTF8.self)
    }

    func isZero(_ offset: Int, _ count: Int) -> Bool {
        var i = offset
        let end = offset + count
        while i + 8 <= end {
            if self.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < end {
            if self[i] != 0 { return false }
            i += 1
        }
        return true
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func storeLE<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
        self.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    /// Stores `bytes` NUL-padded into a field of `size` bytes; the caller has checked the length.
    func storeField(_ bytes: some Collection<UInt8>, _ offset: Int, _ size: Int) {
        precondition(bytes.count <= size)
        var i = offset
        for b in bytes {
            self[i] = b
            i += 1
        }
        while i < offset + size {
            self[i] = 0
            i += 1
        }
    }
}
