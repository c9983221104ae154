#if canImport(Glibc)
import Glibc
#endif

/// The pages of the executable's own code.
enum ExecutablePages {
    /// Unmaps the resident pages of the executable's read-only, executable mappings
    /// (`MADV_DONTNEED`), as the kernel does with clean file pages under memory pressure. The pages
    /// stay in the page cache; what runs later is mapped again on first use (the kernel maps
    /// 64 KiB around each fault). A fully static `minicache` touches ~9 MiB of its ~20 MiB of
    /// code while starting (argument parsing, mounting, bootstrapping), most of it never run
    /// again; these pages are never written, so nothing is lost (skipped under a debugger, whose
    /// breakpoints are written into them). Linux (glibc) only; a no-op elsewhere or when `/proc`
    /// is not mounted.
    static func releaseCode() {
        #if canImport(Glibc)
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX))
        let length = target.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count) }
        }
        guard length > 0, !Self.isTraced() else { return }
        let executable = target[0..<length]
        for line in Self.read("/proc/self/maps").split(separator: UInt8(ascii: "\n")) {
            // start-end perms offset dev inode path
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard fields.count == 6, fields[1].elementsEqual("r-xp".utf8), fields[5].elementsEqual(executable) else { continue }
            let bounds = fields[0].split(separator: UInt8(ascii: "-")).map { String(decoding: $0, as: UTF8.self) }
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start,
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            madvise(address, Int(end - start), MADV_DONTNEED)
        }
        #endif
    }

    #if canImport(Glibc)
    /// Whether a debugger or tracer is attached: its breakpoints live in private copies of code
    /// pages, which `MADV_DONTNEED` would silently drop.
    private static func isTraced() -> Bool {
        for line in Self.read("/proc/self/status").split(separator: UInt8(ascii: "\n")) where line.starts(with: "TracerPid:".utf8) {
            return !line.dropFirst("TracerPid:".utf8.count).allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "0") }
        }
        return false
    }

    /// The whole content of a (small, `/proc`) file; empty when it cannot be read.
    private static func read(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var content: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard got > 0 else { return content }
            content.append(contentsOf: chunk[0..<got])
        }
    }
    #endif
}
