#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto

/// A file being written by an archive writer: buffered, counted and hashed (SHA-256, the digest
/// OCI content addresses use).
final class ArchiveFile {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var hash = SHA256()
    private(set) var count: Int64 = 0

    /// Creates (or truncates) `path`.
    /// - Throws: ``ControlError`` `imageFailed`.
    init(creating path: String, mode: mode_t = 0o644) throws(ControlError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ControlError(.imageFailed, "cannot create \(path): \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit { close(fd) }

    func write(_ bytes: some Collection<UInt8>) throws(ControlError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func write(_ text: String) throws(ControlError) {
        try write(Array(text.utf8))
    }

    /// Zero bytes up to the next multiple of `alignment`.
    func pad(to alignment: Int64) throws(ControlError) {
        let remainder = (count + Int64(buffer.count)) % alignment
        if remainder != 0 { try write(repeatElement(UInt8(0), count: Int(alignment - remainder))) }
    }

    /// Appends the content of the host file `source`; returns the number of bytes copied.
    @discardableResult
    func append(contentsOf source: String) throws(ControlError) -> Int64 {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ControlError(.imageFailed, "cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var copied: Int64 = 0
        while true {
            let got = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { throw ControlError(.imageFailed, "cannot read \(source): \(String(cString: strerror(errno)))") }
            if got == 0 { return copied }
            try write(chunk[0..<got])
            copied += Int64(got)
        }
    }

    /// Writes what is buffered.
    func flush() throws(ControlError) {
        var offset = 0
        while offset < buffer.count {
            let wrote = buffer[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if wrote < 0, errno == EINTR { continue }
            guard wrote > 0 else { throw ControlError(.imageFailed, "cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += wrote
        }
        hash.update(data: buffer)
        count += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and returns the SHA-256 of everything written, in hex.
    func finish() throws(ControlError) -> String {
        try flush()
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw ControlError(.imageFailed, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return hash.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
