#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// The files a program needs in an otherwise empty root: itself and, unless it is static, its
/// dynamic loader and shared libraries at the paths the loader looks them up.
package struct ExecutableFiles: Sendable, Equatable {
    package let executable: String
    /// Host paths, the loader first; empty for a static executable.
    package let libraries: [String]

    package var isStatic: Bool { libraries.isEmpty }

    /// Reads `executable`'s ELF header and, for a dynamic one, asks its loader (`ld.so --list`,
    /// what `ldd` runs) where its libraries are.
    /// - Throws: ``ControlError`` `imageFailed` when it is not an executable or a library is missing.
    package static func of(_ executable: String) throws(ControlError) -> ExecutableFiles {
        guard access(executable, X_OK) == 0 else {
            throw ControlError(
                .imageFailed,
                "\(executable) is not an executable file; build it (swift build -c release --product minicache --static-swift-stdlib -Xswiftc -static-executable --scratch-path .build-static) or pass its path"
            )
        }
        guard let interpreter = try interpreter(of: executable) else { return ExecutableFiles(executable: executable, libraries: []) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = ["--list", executable]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw ControlError(.imageFailed, "cannot run \(interpreter) --list \(executable): \(error)", underlying: error)
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ControlError(.imageFailed, "\(interpreter) --list \(executable) failed: \(output)")
        }
        var libraries = [interpreter]
        for line in output.split(separator: "\n") {
            // "libfoo.so.1 => /path/libfoo.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)"
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if let arrow = words.firstIndex(of: "=>") {
                guard arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") else {
                    throw ControlError(.imageFailed, "\(executable) needs a library its loader cannot find: \(line.trimmingCharacters(in: .whitespaces))")
                }
                libraries.append(String(words[arrow + 1]))
            } else if let first = words.first, first.hasPrefix("/") {
                libraries.append(String(first))
            }
        }
        var seen = Set<String>()
        return ExecutableFiles(executable: executable, libraries: libraries.filter { seen.insert($0).inserted })
    }

    /// The program interpreter (`PT_INTERP`) of a 64-bit little-endian ELF executable; nil for
    /// a static one.
    /// - Throws: ``ControlError`` `imageFailed` when the file is not such an executable.
    package static func interpreter(of path: String) throws(ControlError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ControlError(.imageFailed, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        func bytes(_ offset: Int, _ count: Int) -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: count)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return got == count ? buffer : nil
        }
        func load(_ b: [UInt8], _ offset: Int, _ width: Int) -> Int {
            (0..<width).reduce(0) { $0 | Int(b[offset + $1]) << (8 * $1) }
        }
        guard let header = bytes(0, 64), header.starts(with: [0x7F, 0x45, 0x4C, 0x46]), header[4] == 2, header[5] == 1 else {
            throw ControlError(.imageFailed, "\(path) is not a 64-bit little-endian ELF executable")
        }
        let table = load(header, 32, 8)
        let entrySize = load(header, 54, 2)
        let count = load(header, 56, 2)
        guard entrySize >= 56, count < 256 else { throw ControlError(.imageFailed, "\(path) has a malformed ELF program header table") }
        for index in 0..<count {
            guard let entry = bytes(table + index * entrySize, 56) else { break }
            guard load(entry, 0, 4) == 3 else { continue }
            let size = load(entry, 32, 8)
            guard size > 1, size < 4096, let text = bytes(load(entry, 8, 8), size) else {
                throw ControlError(.imageFailed, "\(path) has a malformed program interpreter entry")
            }
            return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
        }
        return nil
    }
}
