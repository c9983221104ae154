/// Writes a cpio archive in the `newc` format, the one the Linux kernel unpacks as an initramfs
/// (`Documentation/driver-api/early-userspace/buffer-format.rst`): members owned by root, one
/// fixed modification time.
struct CPIOWriter {
    /// Seconds since 1970 stamped on every member. Default 0.
    var modificationTime: UInt32 = 0

    /// Writes `entries` (directories first) and the `TRAILER!!!` member to `file`.
    /// - Throws: ``ControlError`` `imageFailed` when a source cannot be read or is larger than
    ///   the format allows (4 GiB).
    func write(_ entries: [ArchiveEntry], to file: ArchiveFile) throws(ControlError) {
        var inode: UInt32 = 1
        for entry in ArchiveEntry.ordered(entries) {
            let size: Int64
            var device: (UInt32, UInt32) = (0, 0)
            switch entry.content {
            case .directory: size = 0
            case .bytes(let bytes): size = Int64(bytes.count)
            case .file(let source): size = try TarWriter.size(of: source)
            case .characterDevice(let major, let minor):
                size = 0
                device = (major, minor)
            }
            guard size < 1 << 32 else { throw ControlError(.imageFailed, "\(entry.path): larger than a cpio member can be") }
            try member(
                name: entry.path, inode: inode, mode: entry.typeBits | entry.mode, links: entry.content == .directory ? 2 : 1,
                size: UInt32(size), device: device, to: file
            )
            switch entry.content {
            case .bytes(let bytes): try file.write(bytes)
            case .file(let source):
                guard try file.append(contentsOf: source) == size else {
                    throw ControlError(.imageFailed, "\(source) changed while it was archived")
                }
            case .directory, .characterDevice: break
            }
            try file.pad(to: 4)
            inode += 1
        }
        try member(name: "TRAILER!!!", inode: 0, mode: 0, links: 1, size: 0, device: (0, 0), to: file)
    }

    private func member(
        name: String, inode: UInt32, mode: UInt32, links: UInt32, size: UInt32, device: (UInt32, UInt32), to file: ArchiveFile
    ) throws(ControlError) {
        let fields: [UInt32] = [
            inode, mode, 0, 0, links, modificationTime, size, 0, 0, device.0, device.1, UInt32(name.utf8.count + 1), 0,
        ]
        try file.write("070701" + fields.map { String($0, radix: 16).leftPadded(to: 8) }.joined())
        try file.write(Array(name.utf8) + [0])
        try file.pad(to: 4)
    }
}
