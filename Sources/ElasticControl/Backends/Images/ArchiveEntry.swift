/// One member of an image archive: a tar layer of an OCI image or the cpio initramfs of a
/// microVM. Paths are relative to the archive's root (`minicache`, `dev/console`).
package struct ArchiveEntry: Sendable, Equatable {
    /// What the member holds.
    package enum Content: Sendable, Equatable {
        case directory
        /// A regular file whose bytes are read from this host path when the archive is written.
        case file(source: String)
        /// A regular file with these bytes.
        case bytes([UInt8])
        /// A character device node (`dev/console` of an initramfs).
        case characterDevice(major: UInt32, minor: UInt32)
    }

    package var path: String
    /// Permission bits (`0o755`).
    package var mode: UInt32
    package var content: Content

    package init(_ path: String, mode: UInt32, _ content: Content) {
        self.path = path
        self.mode = mode
        self.content = content
    }

    /// The file-type bits of `st_mode` for this entry.
    var typeBits: UInt32 {
        switch content {
        case .directory: 0o040000
        case .file, .bytes: 0o100000
        case .characterDevice: 0o020000
        }
    }

    /// Directories first, each parent before its children, so extractors never meet a member
    /// whose folder is missing.
    static func ordered(_ entries: [ArchiveEntry]) -> [ArchiveEntry] {
        entries.sorted { a, b in
            let aDepth = a.path.split(separator: "/").count
            let bDepth = b.path.split(separator: "/").count
            if (a.content == .directory) != (b.content == .directory) { return a.content == .directory }
            return aDepth != bDepth ? aDepth < bDepth : a.path < b.path
        }
    }
}
