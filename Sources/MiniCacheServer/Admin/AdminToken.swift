#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The bearer token the admin API asks for, and the rule for when it must.
package enum AdminToken {
    /// Whether `host` is reachable only from this machine (127.0.0.0/8, `::1`, `localhost`).
    package static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Whether `header` (an `Authorization` value) is `Bearer <token>`. The comparison takes the
    /// same time wherever the first difference is, so the token cannot be guessed byte by byte
    /// from response times.
    package static func authorizes(_ header: String?, token: String) -> Bool {
        guard let header, header.utf8.count > 7 else { return false }
        let scheme = header.utf8.prefix(7)
        guard scheme.elementsEqual("Bearer ".utf8) || scheme.elementsEqual("bearer ".utf8) else { return false }
        return Self.constantTimeEquals(Array(header.utf8.dropFirst(7)), Array(token.utf8))
    }

    /// Equality whose time depends only on the expected value's length.
    package static func constantTimeEquals(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = given.count == expected.count ? 0 : 1
        for i in 0..<expected.count {
            let byte = i < given.count ? given[i] : 0
            difference |= byte ^ expected[i]
        }
        return difference == 0
    }

    /// The token in `path`: its first line, without surrounding white space.
    /// - Throws: ``MiniCacheError`` when the file cannot be read or is empty.
    package static func read(_ path: String) throws(MiniCacheError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MiniCacheError(.configuration, "cannot read the admin token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        let line = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? ""
        let token = line.trimmingWhitespace()
        guard token.utf8.count >= 16 else {
            throw MiniCacheError(.configuration, "the admin token in \(path) is empty or shorter than 16 characters; put a long random line in it (e.g. `head -c 32 /dev/urandom | base64`)")
        }
        return token
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
