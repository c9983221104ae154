#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The admin token of a site host's caches: a file only root (or the agent's user) can read,
/// created with a fresh random token when it is missing and kept across agent restarts, so a
/// restarted agent can still ask the caches it adopts for their status.
///
/// A cache on a site host listens on an address other hosts reach; `minicache` refuses such an
/// admin listener without a token (`--admin-token-file`).
public enum AdminTokenFile {
    /// The token in `path`, written first (mode 0600, 64 hex digits) when the file is missing.
    /// - Throws: ``ControlError`` `badConfiguration` when the file cannot be written or holds no
    ///   usable token (at least 16 characters on its first line).
    public static func prepare(_ path: String) throws(ControlError) -> String {
        if access(path, F_OK) != 0 {
            var generator = SystemRandomNumberGenerator()
            let token = (0..<32).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16).leftPadded(2) }.joined()
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                let line = token + "\n"
                let written = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                close(fd)
                guard written == line.utf8.count else {
                    unlink(path)
                    throw ControlError(.badConfiguration, "cannot write the admin token file \(path): \(HostFile.describe(errno))")
                }
            } else if errno != EEXIST {
                throw ControlError(.badConfiguration, "cannot create the admin token file \(path): \(HostFile.describe(errno)); give --admin-token-file FILE in a folder you can write")
            }
        }
        guard let text = HostFile.read(path) else {
            throw ControlError(.badConfiguration, "cannot read the admin token file \(path): \(HostFile.describe(errno))")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { String($0).trimmingSpaces } ?? ""
        guard token.utf8.count >= 16 else {
            throw ControlError(.badConfiguration, "the admin token in \(path) is shorter than 16 characters: put a long random line in it, or delete the file for a new one")
        }
        return token
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
