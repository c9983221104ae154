#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// The host's OCI runtime (`runc`, or `crun`), driven through its command line with its own
/// state folder: `run --detach`, `kill`, `delete`, `state`, `list`. Its errors are reported with
/// the runtime's own message.
package struct OCIRuntime: Sendable {
    /// The runtime's executable.
    package let path: String
    /// Its state folder (`--root`): containers of this backend only.
    package let root: String
    /// `runc version 1.1.5+ds1`.
    package let version: String

    package var name: String { (path as NSString).lastPathComponent }

    /// What `state` and `list` say about a container.
    package struct State: Decodable, Sendable, Equatable {
        package var id: String
        /// `created`, `running`, `paused` or `stopped`.
        package var status: String
        package var pid: Int32
        package var bundle: String
    }

    /// Finds `runtime` (a name on `PATH` or a path) and checks this host can run it.
    /// - Throws: ``ControlError`` `badConfiguration` saying what is missing, or why the runtime
    ///   cannot work here (crun and hybrid cgroup hierarchies).
    package init(_ runtime: String, root: String) throws(ControlError) {
        guard let path = runtime.contains("/") ? (access(runtime, X_OK) == 0 ? runtime : nil) : ImageTools.find(runtime) else {
            throw ControlError(.badConfiguration, "no OCI runtime `\(runtime)`: install runc (apt-get install runc) or pass --oci-runtime PATH")
        }
        if let reason = Self.incompatibility(of: path, mountinfo: (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "") {
            throw ControlError(.badConfiguration, reason)
        }
        self.path = path
        self.root = root
        let output = (try? ImageTools.run(path, ["--version"], code: .badConfiguration)) ?? ""
        self.version = output.split(separator: "\n").first.map(String.init) ?? (path as NSString).lastPathComponent
    }

    /// Why `runtime` cannot run containers on a host with these mounts, or nil: crun (1.8)
    /// refuses a hybrid cgroup layout (v1 controllers, plus a cgroup2 hierarchy at
    /// `/sys/fs/cgroup/unified`) with "cgroups in hybrid mode not supported, drop all
    /// controllers from cgroupv2".
    package static func incompatibility(of runtime: String, mountinfo: String) -> String? {
        guard (runtime as NSString).lastPathComponent.hasPrefix("crun") else { return nil }
        var v1 = false
        var v2Beside = false
        for line in mountinfo.split(separator: "\n") {
            guard let dash = line.range(of: " - ") else { continue }
            let type = line[dash.upperBound...].split(separator: " ").first ?? ""
            let mountPoint = line.split(separator: " ").dropFirst(4).first ?? ""
            if type == "cgroup" { v1 = true }
            if type == "cgroup2", mountPoint != "/sys/fs/cgroup" { v2Beside = true }
        }
        guard v1, v2Beside else { return nil }
        return "\(runtime) cannot run containers here: this host mounts cgroups in hybrid mode (v1 controllers, and a cgroup2 hierarchy beside them at /sys/fs/cgroup/unified), which crun refuses (\"cgroups in hybrid mode not supported, drop all controllers from cgroupv2\"); use runc (apt-get install runc; --oci-runtime runc), or boot with a unified cgroup v2 hierarchy (systemd.unified_cgroup_hierarchy=1)"
    }

    /// `runtime run --detach`: creates and starts container `id` from `bundle`; its standard
    /// output and error (and the runtime's messages) are appended to `log`. Returns the
    /// container's process id once it runs.
    /// - Throws: ``ControlError`` `spawnFailed` with what the runtime printed.
    package func run(id: String, bundle: String, log: String) throws(ControlError) -> Int32 {
        let pidFile = bundle + "/container.pid"
        unlink(pidFile)
        let before = (try? TarWriter.size(of: log)) ?? 0
        let status = try runAttached(["run", "--detach", "--bundle", bundle, "--pid-file", pidFile, id], log: log)
        guard status == 0 else {
            throw ControlError(.spawnFailed, "\(name) could not start \(id): \(Self.tail(of: log, from: before) ?? "exit status \(status)")")
        }
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ControlError(.spawnFailed, "\(name) started \(id) but wrote no pid file \(pidFile)")
        }
        return pid
    }

    /// `runtime kill ID SIGNAL`.
    package func kill(id: String, signal: String) throws(ControlError) {
        try ImageTools.run(path, ["--root", root, "kill", id, signal], code: .instanceFailed)
    }

    /// `runtime delete --force ID`: the container and its cgroups are gone afterwards.
    package func delete(id: String) throws(ControlError) {
        try ImageTools.run(path, ["--root", root, "delete", "--force", id], code: .instanceFailed)
    }

    /// `runtime state ID`, or nil when there is no such container.
    package func state(id: String) -> State? {
        guard let output = try? ImageTools.run(path, ["--root", root, "state", id], code: .instanceFailed) else { return nil }
        return try? JSONDecoder().decode(State.self, from: Data(output.utf8))
    }

    /// Every container in this runtime's state folder.
    package func list() -> [State] {
        guard let output = try? ImageTools.run(path, ["--root", root, "list", "--format", "json"], code: .instanceFailed) else { return [] }
        return (try? JSONDecoder().decode([State]?.self, from: Data(output.utf8))).flatMap { $0 } ?? []
    }

    /// Runs the runtime with standard output and error appended to `log` (a detached
    /// container inherits them, so they cannot be a pipe this process reads to its end).
    private func runAttached(_ arguments: [String], log: String) throws(ControlError) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--root", root] + arguments
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ControlError(.spawnFailed, "cannot open the log \(log): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ControlError(.spawnFailed, "cannot run \(path): \(error)", underlying: error)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// What was appended to `path` after `offset`, trimmed (at most the last 2 KB), or nil.
    static func tail(of path: String, from offset: Int64) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let end = (try? handle.seekToEnd()) ?? 0
        let start = max(UInt64(offset), end > 2048 ? end - 2048 : 0)
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
