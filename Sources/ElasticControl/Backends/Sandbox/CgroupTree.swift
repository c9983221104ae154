#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The cgroups of one sandbox backend: `BASE/TENANT/INSTANCE` in every hierarchy that holds a
/// controller it uses, where `BASE` (`ecdn-sandbox-PID-N`, or a name that outlives the process
/// for detached instances) is under ``SandboxConfiguration/cgroupParent``. Tenant groups carry the tenant's limits, instance
/// groups the instance's; an instance joins its groups before it execs.
final class CgroupTree: Sendable {
    /// One instance's groups (a directory per hierarchy).
    struct Group: Sendable {
        var tenant: String
        var directories: [String]
        /// The directory whose memory files count the instance's OOM kills, if memory is limited.
        var memory: (directory: String, version: CgroupLayout.Version)?
    }

    let layout: CgroupLayout
    /// `BASE` in each hierarchy, in the order of ``CgroupLayout/hierarchies``.
    let bases: [String]
    private let tenants = Mutex<[String: Int]>([:])

    private static let serial = Atomic<Int>(0)

    /// The base's name when it lives as long as this process.
    static func processName() -> String {
        "ecdn-sandbox-\(getpid())-\(serial.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    /// Creates the base groups (or finds them, for a `name` an earlier owner used).
    /// - Throws: ``ControlError`` `badConfiguration` when a group cannot be created.
    init(layout: CgroupLayout, parent: String?, name: String = CgroupTree.processName()) throws(ControlError) {
        self.layout = layout
        var bases: [String] = []
        for hierarchy in layout.hierarchies {
            let parentPath = parent ?? (hierarchy.version == .v1 ? hierarchy.ownPath : "/")
            let base = hierarchy.directory(of: parentPath) + "/" + name
            if hierarchy.version == .v2 {
                try Self.delegate(hierarchy.controllers, from: hierarchy.mountPoint, down: hierarchy.directory(of: parentPath))
            }
            try Self.makeBase(base, hierarchy)
            bases.append(base)
        }
        self.bases = bases
    }

    /// Makes the groups of instance `id` of `tenant` (and the tenant's, on its first instance)
    /// with their limits.
    /// - Throws: ``ControlError`` `spawnFailed` naming the file that refused.
    func makeGroup(tenant rawTenant: String, id rawID: String, tenantLimits: ResourceLimits, instanceLimits: ResourceLimits) throws(ControlError) -> Group {
        let tenant = Self.safeName(rawTenant)
        let id = Self.safeName(rawID)
        var group = Group(tenant: tenant, directories: [], memory: nil)
        // cgroup v1 refuses a child CPU quota above its parent's (EINVAL); the tenant's bounds it either way.
        var instanceLimits = instanceLimits
        if let tenantCPUs = tenantLimits.cpus, let cpus = instanceLimits.cpus, cpus > tenantCPUs { instanceLimits.cpus = tenantCPUs }
        do throws(ControlError) {
            // Under the lock: a tenant's groups appear before its first instance's and go after its last.
            try tenants.withLock { (counts: inout [String: Int]) throws(ControlError) in
                counts[tenant, default: 0] += 1
                for (hierarchy, base) in zip(layout.hierarchies, bases) {
                    let tenantDirectory = base + "/" + tenant
                    if counts[tenant] == 1 {
                        // The base again after a removeAll (at shutdown) when the backend goes on.
                        if counts.count == 1 { try Self.makeBase(base, hierarchy) }
                        try Self.makeDirectory(tenantDirectory)
                        if hierarchy.version == .v2 { try Self.delegate(hierarchy.controllers, in: tenantDirectory) }
                        try Self.apply(tenantLimits, hierarchy, tenantDirectory)
                    }
                    let directory = tenantDirectory + "/" + id
                    try Self.makeDirectory(directory)
                    group.directories.append(directory)
                    try Self.apply(instanceLimits, hierarchy, directory)
                    if hierarchy.controllers.contains(.memory) { group.memory = (directory, hierarchy.version) }
                }
            }
        } catch {
            removeNow(group)
            throw error
        }
        return group
    }

    /// The groups an earlier owner made for instance `id` of `tenant`, counted as this tree's
    /// own; nil when they are gone.
    func adoptGroup(tenant rawTenant: String, id rawID: String) -> Group? {
        let tenant = Self.safeName(rawTenant)
        let id = Self.safeName(rawID)
        var group = Group(tenant: tenant, directories: [], memory: nil)
        for (hierarchy, base) in zip(layout.hierarchies, bases) {
            let directory = base + "/" + tenant + "/" + id
            guard access(directory, F_OK) == 0 else { return nil }
            group.directories.append(directory)
            if hierarchy.controllers.contains(.memory) { group.memory = (directory, hierarchy.version) }
        }
        tenants.withLock { $0[tenant, default: 0] += 1 }
        return group
    }

    /// Whether process `pid` is in `group` (read from `/proc/PID/cgroup`).
    func holds(_ pid: pid_t, _ group: Group) -> Bool {
        guard let text = HostFile.read("/proc/\(pid)/cgroup"), let directory = group.directories.first,
              let hierarchy = layout.hierarchies.first else { return false }
        let suffix = String(directory.dropFirst(hierarchy.mountPoint.count))
        return text.split(separator: "\n").contains { $0.hasSuffix(suffix) }
    }

    /// Opens, in each group, the file the child writes "0" into to join it before it execs.
    ///
    /// On v1 that is `tasks`: the child has one thread, so moving that thread moves the process,
    /// and the kernel moves the calling thread alone without the global lock whose grace period
    /// makes a `cgroup.procs` write cost milliseconds. v2 has no such file for a domain group.
    func joinDescriptors(_ group: Group) throws(ControlError) -> [Int32] {
        var fds: [Int32] = []
        for (directory, hierarchy) in zip(group.directories, layout.hierarchies) {
            let path = directory + (hierarchy.version == .v1 ? "/tasks" : "/cgroup.procs")
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let code = errno
                for fd in fds { close(fd) }
                throw ControlError(.spawnFailed, "cannot open \(path): \(HostFile.describe(code))")
            }
            fds.append(fd)
        }
        return fds
    }

    /// How many times the kernel's OOM killer struck in the group.
    func oomKills(_ group: Group) -> Int {
        guard let memory = group.memory else { return 0 }
        let file = memory.version == .v1 ? "/memory.oom_control" : "/memory.events"
        guard let text = HostFile.read(memory.directory + file) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
            return Int(line.dropFirst("oom_kill ".count)) ?? 0
        }
        return 0
    }

    /// Removes an instance's groups (its processes have been reaped), and its tenant's groups
    /// once the tenant has no instance left. A group stays busy for a moment after its last task
    /// was reaped, and a tenant's until its last instance's group went offline (an RCU grace
    /// period later): the retries sleep without holding a thread, or the tenants' lock.
    func remove(_ group: Group) async {
        for directory in group.directories.reversed() {
            for _ in 0..<Self.busyRetries {
                if Self.removeDirectoryOnce(directory) { break }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        guard forget(group) else { return }
        for base in bases {
            let path = base + "/" + group.tenant
            for _ in 0..<Self.busyRetries {
                // Under the lock: an instance of the tenant that starts meanwhile keeps the group.
                let busy = tenants.withLock { counts in counts[group.tenant] == nil && !Self.removeDirectoryOnce(path) }
                guard busy else { break }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// ``remove(_:)`` at once, without waiting for busy groups (a start that failed before any
    /// task joined them; what stays busy goes with ``removeAll()``).
    private func removeNow(_ group: Group) {
        for directory in group.directories.reversed() { _ = Self.removeDirectoryOnce(directory) }
        guard forget(group) else { return }
        tenants.withLock { counts in
            guard counts[group.tenant] == nil else { return }
            for base in bases { _ = Self.removeDirectoryOnce(base + "/" + group.tenant) }
        }
    }

    /// Counts one instance of `group`'s tenant less; whether it was the last.
    private func forget(_ group: Group) -> Bool {
        tenants.withLock { counts in
            guard let count = counts[group.tenant] else { return false }
            counts[group.tenant] = count > 1 ? count - 1 : nil
            return count <= 1
        }
    }

    /// Removes every group left, the bases too (at shutdown; a later instance makes them again).
    func removeAll() async {
        for _ in 0..<Self.busyRetries {
            if removeAllOnce() { break }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// ``removeAll()`` from a synchronous context (the backend's deinit): retries sleep the thread.
    func removeAllBlocking() {
        for _ in 0..<Self.busyRetries {
            if removeAllOnce() { break }
            usleep(1000)
        }
    }

    /// One pass over every group left, deepest first; whether all are gone.
    private func removeAllOnce() -> Bool {
        tenants.withLock { counts in
            var done = true
            for base in bases {
                for tenant in Self.subdirectories(base) {
                    for instance in Self.subdirectories(base + "/" + tenant) {
                        done = Self.removeDirectoryOnce(base + "/" + tenant + "/" + instance) && done
                    }
                    done = Self.removeDirectoryOnce(base + "/" + tenant) && done
                }
                done = Self.removeDirectoryOnce(base) && done
            }
            counts.removeAll()
            return done
        }
    }

    /// Groups below the bases (instances and tenants), for tests that count what is left.
    func groupCount() -> Int {
        bases.reduce(0) { total, base in
            total + Self.subdirectories(base).reduce(0) { $0 + 1 + Self.subdirectories(base + "/" + $1).count }
        }
    }

    // MARK: Files

    private static func apply(_ limits: ResourceLimits, _ hierarchy: CgroupLayout.Hierarchy, _ directory: String) throws(ControlError) {
        let v1 = hierarchy.version == .v1
        if let bytes = limits.memoryBytes, hierarchy.controllers.contains(.memory) {
            try set(directory + (v1 ? "/memory.limit_in_bytes" : "/memory.max"), "\(bytes)")
        }
        if let cpus = limits.cpus, hierarchy.controllers.contains(.cpu) {
            let period = 100_000
            let quota = max(1000, Int(cpus * Double(period)))
            if v1 {
                try set(directory + "/cpu.cfs_period_us", "\(period)")
                try set(directory + "/cpu.cfs_quota_us", "\(quota)")
            } else {
                try set(directory + "/cpu.max", "\(quota) \(period)")
            }
        }
        if let pids = limits.pids, hierarchy.controllers.contains(.pids) {
            try set(directory + "/pids.max", "\(pids)")
        }
    }

    private static func makeBase(_ base: String, _ hierarchy: CgroupLayout.Hierarchy) throws(ControlError) {
        try makeDirectory(base)
        if hierarchy.version == .v2 { try delegate(hierarchy.controllers, in: base) }
    }

    private static func set(_ path: String, _ value: String) throws(ControlError) {
        let code = HostFile.write(path, value)
        guard code == 0 else { throw ControlError(.spawnFailed, "cannot write \(value) to \(path): \(HostFile.describe(code))") }
    }

    /// Enables `controllers` for the children of every group from `top` down to `bottom` (v2
    /// hands a controller to a group only when its parent's `cgroup.subtree_control` lists it).
    private static func delegate(_ controllers: [CgroupController], from top: String, down bottom: String) throws(ControlError) {
        var path = top
        try delegate(controllers, in: path)
        for component in bottom.dropFirst(top.count).split(separator: "/") {
            path += "/" + component
            try delegate(controllers, in: path)
        }
    }

    private static func delegate(_ controllers: [CgroupController], in directory: String) throws(ControlError) {
        let wanted = controllers.map { "+" + $0.rawValue }.joined(separator: " ")
        let enabled = HostFile.read(directory + "/cgroup.subtree_control")?.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? []
        guard controllers.contains(where: { !enabled.contains($0.rawValue) }) else { return }
        try set(directory + "/cgroup.subtree_control", wanted)
    }

    private static func makeDirectory(_ path: String) throws(ControlError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw ControlError(.badConfiguration, "cannot create the cgroup \(path): \(HostFile.describe(errno)) (the sandbox backend needs root and a writable cgroup hierarchy)")
        }
    }

    /// How many times removing a busy group is tried, a millisecond apart.
    static let busyRetries = 200

    /// One rmdir: false only while the group is busy (EBUSY), true once it is gone or cannot
    /// go for another reason (which retrying would not change).
    private static func removeDirectoryOnce(_ path: String) -> Bool {
        rmdir(path) == 0 || errno != EBUSY
    }

    static func subdirectories(_ path: String) -> [String] {
        HostFile.names(in: path, directoriesOnly: true)
    }

    /// A name safe as one path component.
    static func safeName(_ name: String) -> String {
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return safe.isEmpty || safe == "." || safe == ".." ? "_" + safe : safe
    }
}
