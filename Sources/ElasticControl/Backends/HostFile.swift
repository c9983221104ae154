#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small files of the kernel's interfaces (`/proc`, cgroup files) and of the work directory,
/// read and written with one system call each where possible.
enum HostFile {
    /// The whole content of a small file, or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var content: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { break }
            content.append(contentsOf: chunk[0..<got])
        }
        return String(decoding: content, as: UTF8.self)
    }

    /// The names in a directory (without `.` and `..`; with `directoriesOnly`, only those of
    /// subdirectories); empty when it cannot be read.
    static func names(in directory: String, directoriesOnly: Bool = false) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            if directoriesOnly, entry.pointee.d_type != UInt8(DT_DIR) { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `text` to an existing file (a cgroup or sysctl knob) in one write.
    /// - Returns: 0, or the errno of the failure.
    @discardableResult
    static func write(_ path: String, _ text: String, create: Bool = false) -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0o644)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let written = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        return written == text.utf8.count ? 0 : (written < 0 ? errno : EIO)
    }

    /// The text of an errno.
    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
