#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// The root every instance of a sandbox backend sees, read-only: the executable at
/// `/minicache`, the shared libraries it loads when it is not static (at the paths its dynamic
/// loader looks them up), the host's `/etc/hosts`, `/etc/resolv.conf` and `/etc/nsswitch.conf`
/// (origins named by host name), and the empty mount points `/data`, `/dev/null` and `/proc`.
/// Built once per backend (files are hard-linked where the file system allows, else copied);
/// each instance binds it read-only as its `/`. A root that must outlive its backend (detached
/// instances, adopted by the next owner) is named after the executable's identity and reused.
struct SandboxRoot: Sendable {
    /// The directory on the host.
    let path: String
    /// The executable's path inside the root.
    let executable: String
    /// Host paths of the shared libraries put in the root (empty for a static executable).
    let libraries: [String]

    var isStatic: Bool { libraries.isEmpty }

    /// Builds the root for `executable` in `directory`: at `root` (replacing what is there), or,
    /// when `lasting`, at `root-KEY` for this very executable (its device, inode, size and
    /// modification time), reused when it is already there and never replaced under running
    /// instances.
    /// - Throws: ``ControlError`` `badConfiguration` when the executable or a library cannot be
    ///   read or placed.
    static func prepare(executable source: String, in directory: String, lasting: Bool) throws(ControlError) -> SandboxRoot {
        let files = FileManager.default
        var info = stat()
        guard files.isExecutableFile(atPath: source), stat(source, &info) == 0 else {
            throw ControlError(.badConfiguration, "\(source) is not an executable file; build it (swift build --product minicache) or pass --minicache PATH")
        }
        var libraries: [String] = []
        if let interpreter = ELFFile.interpreter(of: source) {
            libraries = try sharedLibraries(of: source, interpreter: interpreter)
        }
        guard lasting else {
            let path = directory + "/root"
            try? files.removeItem(atPath: path)
            try build(source, libraries: libraries, at: path)
            return SandboxRoot(path: path, executable: "/minicache", libraries: libraries)
        }
        var key: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in [UInt64(info.st_dev), UInt64(info.st_ino), UInt64(info.st_size), UInt64(info.st_mtim.tv_sec), UInt64(info.st_mtim.tv_nsec)] {
            key = (key ^ value) &* 0x100_0000_01B3
        }
        let path = directory + "/root-" + String(key, radix: 16)
        if !files.fileExists(atPath: path + "/minicache") {
            // Built aside and renamed: a root that exists is complete.
            let temporary = path + ".tmp-\(getpid())"
            try? files.removeItem(atPath: temporary)
            try build(source, libraries: libraries, at: temporary)
            if rename(temporary, path) != 0 { try? files.removeItem(atPath: temporary) }
        }
        return SandboxRoot(path: path, executable: "/minicache", libraries: libraries)
    }

    private static func build(_ source: String, libraries: [String], at path: String) throws(ControlError) {
        let files = FileManager.default
        do {
            for directory in ["data", "dev", "proc", "etc"] {
                try files.createDirectory(atPath: path + "/" + directory, withIntermediateDirectories: true)
            }
            guard files.createFile(atPath: path + "/dev/null", contents: nil) else {
                throw ControlError(.badConfiguration, "cannot create \(path)/dev/null")
            }
            try place(source, at: path + "/minicache")
            for library in libraries { try place(library, at: path + library) }
            for name in ["hosts", "resolv.conf", "nsswitch.conf"] where files.fileExists(atPath: "/etc/" + name) {
                try place("/etc/" + name, at: path + "/etc/" + name)
            }
        } catch let error as ControlError {
            throw error
        } catch {
            throw ControlError(.badConfiguration, "cannot prepare the sandbox root \(path): \(error)", underlying: error)
        }
    }

    /// Puts the content of `source` (symbolic links followed) at `destination`.
    private static func place(_ source: String, at destination: String) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let resolved = URL(fileURLWithPath: source).resolvingSymlinksInPath().path
        if link(resolved, destination) == 0 { return }
        try files.copyItem(atPath: resolved, toPath: destination)
    }

    /// The libraries `executable` loads, as its dynamic loader resolves them (`ld.so --list`,
    /// what `ldd` runs), the loader itself included.
    static func sharedLibraries(of executable: String, interpreter: String) throws(ControlError) -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = ["--list", executable]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw ControlError(.badConfiguration, "cannot run \(interpreter) --list \(executable): \(error)", underlying: error)
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ControlError(.badConfiguration, "\(interpreter) --list \(executable) failed: \(output)")
        }
        var libraries = [interpreter]
        for line in output.split(separator: "\n") {
            // "libfoo.so.1 => /path/libfoo.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)"
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if let arrow = words.firstIndex(of: "=>") {
                guard arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") else {
                    throw ControlError(.badConfiguration, "\(executable) needs a library the loader cannot find: \(line.trimmingCharacters(in: .whitespaces))")
                }
                libraries.append(String(words[arrow + 1]))
            } else if let first = words.first, first.hasPrefix("/") {
                libraries.append(String(first))
            }
        }
        var seen = Set<String>()
        return libraries.filter { seen.insert($0).inserted }
    }

    /// Deletes the root.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Just enough ELF to tell a static executable from a dynamic one.
enum ELFFile {
    /// The program interpreter (`PT_INTERP`) of a 64-bit little-endian ELF file; nil for a
    /// static executable or anything that is not such a file.
    static func interpreter(of path: String) -> String? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        guard let header = try? file.read(upToCount: 64), header.count == 64,
              header.starts(with: [0x7F, 0x45, 0x4C, 0x46]), header[4] == 2, header[5] == 1 else { return nil }
        let bytes = [UInt8](header)
        let programHeaders = Int(load(bytes, 32, 8))
        let entrySize = Int(load(bytes, 54, 2))
        let count = Int(load(bytes, 56, 2))
        guard entrySize >= 56, count < 256 else { return nil }
        for index in 0..<count {
            guard (try? file.seek(toOffset: UInt64(programHeaders + index * entrySize))) != nil,
                  let entry = try? file.read(upToCount: 56), entry.count == 56 else { return nil }
            let fields = [UInt8](entry)
            guard load(fields, 0, 4) == 3 else { continue }
            let offset = load(fields, 8, 8)
            let size = Int(load(fields, 32, 8))
            guard size > 1, size < 4096, (try? file.seek(toOffset: offset)) != nil,
                  let text = try? file.read(upToCount: size) else { return nil }
            return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
        }
        return nil
    }

    private static func load(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
        (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}
