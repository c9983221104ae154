#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes a POSIX ustar archive (the format of OCI image layers): members owned by root, with
/// one fixed modification time so the same inputs give the same bytes, hence the same digest.
struct TarWriter {
    /// Seconds since 1970 stamped on every member. Default 0.
    var modificationTime: Int64 = 0

    /// Writes `entries` (directories first) and the end-of-archive marker to `file`.
    /// - Throws: ``ControlError`` `imageFailed` when a source cannot be read, a path does not fit
    ///   the format, or a device node is asked for.
    func write(_ entries: [ArchiveEntry], to file: ArchiveFile) throws(ControlError) {
        for entry in ArchiveEntry.ordered(entries) {
            let size: Int64
            switch entry.content {
            case .directory: size = 0
            case .bytes(let bytes): size = Int64(bytes.count)
            case .file(let source): size = try Self.size(of: source)
            case .characterDevice:
                throw ControlError(.imageFailed, "\(entry.path): image layers hold no device nodes; the runtime creates /dev")
            }
            try file.write(try header(entry, size: size))
            switch entry.content {
            case .bytes(let bytes): try file.write(bytes)
            case .file(let source):
                let copied = try file.append(contentsOf: source)
                guard copied == size else { throw ControlError(.imageFailed, "\(source) changed while it was archived") }
            case .directory, .characterDevice: break
            }
            try file.pad(to: 512)
        }
        try file.write(repeatElement(UInt8(0), count: 1024))
    }

    private func header(_ entry: ArchiveEntry, size: Int64) throws(ControlError) -> [UInt8] {
        var name = entry.path + (entry.content == .directory ? "/" : "")
        var prefix = ""
        if name.utf8.count > 100 {
            // ustar splits a long path at a slash: up to 155 bytes of prefix, 100 of name.
            guard let slash = name.utf8.indices.last(where: { name.utf8[$0] == UInt8(ascii: "/") && name.utf8.distance(from: $0, to: name.utf8.endIndex) <= 101 }),
                  name.utf8.distance(from: name.utf8.startIndex, to: slash) <= 155 else {
                throw ControlError(.imageFailed, "\(entry.path): path too long for a tar header")
            }
            prefix = String(name[..<slash])
            name = String(name[name.index(after: slash)...])
        }
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ width: Int) {
            for (i, byte) in text.utf8.prefix(width).enumerated() { h[offset + i] = byte }
        }
        func octal(_ value: Int64, _ offset: Int, _ width: Int) {
            put(String(value, radix: 8).leftPadded(to: width - 1), offset, width - 1)
        }
        put(name, 0, 100)
        octal(Int64(entry.mode), 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(modificationTime, 136, 12)
        put("        ", 148, 8)
        h[156] = entry.content == .directory ? UInt8(ascii: "5") : UInt8(ascii: "0")
        put("ustar", 257, 6)
        put("00", 263, 2)
        put("root", 265, 32)
        put("root", 297, 32)
        put(prefix, 345, 155)
        let checksum = h.reduce(0) { $0 + Int64($1) }
        put(String(checksum, radix: 8).leftPadded(to: 6), 148, 6)
        h[154] = 0
        h[155] = UInt8(ascii: " ")
        return h
    }

    static func size(of path: String) throws(ControlError) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ControlError(.imageFailed, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return Int64(st.st_size)
    }
}
