#if canImport(Glibc)
import Glibc
#endif

/// Backs the simulator's large arrays that every rate change reads at random (flow groups and
/// their records, cohorts, viewers) with transparent huge pages.
///
/// A recomputation at country scale visits thousands of records scattered over tens of MB:
/// with 4 KiB pages nearly every visit also misses the TLB. On Linux with transparent huge pages
/// in `madvise` mode (the usual default) an array is backed by 2 MiB pages only when asked:
/// ``adviseIfGrown(_:advised:)`` asks once per buffer (after a growth the buffer is a new one)
/// and collapses the pages already written. The arrays and their contents stay as they are; a
/// kernel that refuses (no THP, another OS) only leaves the run slower.
enum HugePages {
    /// Buffers below this size are left alone (at most a few pages to gain).
    static let minimumBytes = 4 << 20
    private static let pageSize = 2 << 20

    /// Advises `array`'s buffer if its capacity changed since the last call; `advised` keeps the
    /// capacity last advised (0 at first).
    @inline(__always)
    static func adviseIfGrown<T>(_ array: inout [T], advised: inout Int) {
        guard array.capacity != advised else { return }
        advised = array.capacity
        guard array.capacity * MemoryLayout<T>.stride >= minimumBytes, !array.isEmpty else { return }
        advise(&array)
    }

    /// Advises a new buffer of `bytes` at `pointer` before anything is written to it (the
    /// buffer of an ``AlignedArray``): its huge-page-aligned part comes as huge pages once written.
    static func advise(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        #if os(Linux)
        guard bytes >= minimumBytes else { return }
        let start = (UInt(bitPattern: pointer) + UInt(pageSize - 1)) & ~UInt(pageSize - 1)
        let end = (UInt(bitPattern: pointer) + UInt(bytes)) & ~UInt(pageSize - 1)
        guard start < end, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, Int(end - start), MADV_HUGEPAGE)
        #endif
    }

    private static func advise<T>(_ array: inout [T]) {
        #if os(Linux)
        let bytes = array.capacity * MemoryLayout<T>.stride
        array.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let start = (UInt(bitPattern: base) + UInt(pageSize - 1)) & ~UInt(pageSize - 1)
            let end = (UInt(bitPattern: base) + UInt(bytes)) & ~UInt(pageSize - 1)
            guard start < end, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
            let length = Int(end - start)
            // MADV_HUGEPAGE: pages written from now on come as huge pages; MADV_COLLAPSE (25,
            // Linux 6.1; older kernels refuse it) turns the pages already written into huge ones.
            _ = madvise(pointer, length, MADV_HUGEPAGE)
            _ = madvise(pointer, length, 25)
        }
        #endif
    }
}
