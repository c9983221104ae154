#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// Small file-system helpers for importing and exporting trees, without Foundation.
package enum FileTree {
    /// A regular file found under a directory.
    package struct File: Sendable {
        /// Path relative to the walked directory, `/`-separated.
        package var relativePath: String
        package var size: Int64
    }

    /// Every regular file under `root` (following symbolic links, skipping names that start with `.`
    /// other than `.well-known`), sorted by relative path.
    package static func regularFiles(under root: String) throws(SHFSError) -> [File] {
        var out: [File] = []
        try walk(root: root, relative: "", into: &out, depth: 0)
        out.sort { $0.relativePath < $1.relativePath }
        return out
    }

    private static func walk(root: String, relative: String, into out: inout [File], depth: Int) throws(SHFSError) {
        guard depth < 64 else { throw SHFSError(.invalidArgument, "\(root)/\(relative): directories nested too deep (a symbolic link loop?)") }
        let dirPath = relative.isEmpty ? root : "\(root)/\(relative)"
        guard let dir = opendir(dirPath) else {
            throw .io("cannot read directory \(dirPath)", Errno(rawValue: errno))
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("."), name != ".well-known" { continue }
            names.append(name)
        }
        for name in names {
            let rel = relative.isEmpty ? name : "\(relative)/\(name)"
            var st = stat()
            guard stat("\(root)/\(rel)", &st) == 0 else {
                throw .io("cannot stat \(root)/\(rel)", Errno(rawValue: errno))
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: try walk(root: root, relative: rel, into: &out, depth: depth + 1)
            case S_IFREG: out.append(File(relativePath: rel, size: Int64(st.st_size)))
            default: continue
            }
        }
    }

    /// Whether `path` is a directory.
    package static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents.
    package static func makeDirectories(_ path: String) throws(SHFSError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/\(part)"
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw .io("cannot create directory \(current)", Errno(rawValue: errno))
            }
        }
    }
}
