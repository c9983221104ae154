/// Limits of a cgroup: memory, CPU and process count. nil leaves a resource unlimited.
public struct ResourceLimits: Sendable, Equatable {
    /// Bytes of memory (anonymous and page cache) before the kernel reclaims, then OOM-kills.
    public var memoryBytes: Int64?
    /// CPU time as a share of one core per period (1.0: one core, 0.5: half of one).
    public var cpus: Double?
    /// Processes and threads.
    public var pids: Int?

    public init(memoryBytes: Int64? = nil, cpus: Double? = nil, pids: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.pids = pids
    }
}

/// How the sandbox backend isolates instances. The shared settings (executable, volumes,
/// arguments) are ``BackendSettings/instances``.
public struct SandboxConfiguration: Sendable {
    /// Limits of each instance's cgroup. Default 128 MiB, one core, 64 tasks.
    public var instanceLimits: ResourceLimits
    /// Limits of each tenant's cgroup (all its instances on this host together), by tenant name;
    /// a tenant not listed gets ``defaultTenantLimits``.
    public var tenantLimits: [String: ResourceLimits]
    /// Limits of a tenant not in ``tenantLimits``. Default: none beyond the instances' own.
    public var defaultTenantLimits: ResourceLimits
    /// Load the seccomp allow-list (the system calls `minicache` makes). Default true.
    public var seccomp: Bool
    /// User and group the instance runs as (it has no capabilities either way). Default 65534 (nobody).
    public var uid: UInt32
    public var gid: UInt32
    /// Mount a `proc` that shows only the instance's own processes (`subset=pid`); `minicache`
    /// reads `/proc/self/maps` to hand back its start-up code pages. Default true.
    public var mountProc: Bool
    /// The source address the host uses towards instances (must be a local address). Default 127.0.0.1.
    public var hostSource: String
    /// The cgroup (relative to each hierarchy's root) under which this backend makes its own;
    /// nil: this process's own cgroup on cgroup v1, the hierarchy's root on cgroup v2 (where a
    /// cgroup that holds processes cannot delegate controllers).
    public var cgroupParent: String?
    /// Network namespaces kept prepared ahead of need, each with its veth wired but for the
    /// address: a start then joins one instead of making its own (faster, off the kernel's
    /// RTNL lock). 0 turns the pool off. Default 8.
    public var preparedNetworks: Int
    /// Make each instance's mounts from a template mount namespace (the root, read-only and
    /// pivoted once per backend) instead of copying the host's mounts and pivoting per instance.
    /// Default true; false is the per-instance way (for comparison, or a kernel without
    /// `open_tree`/`move_mount`, which the backend also falls back to by itself).
    public var mountTemplate: Bool
    /// Threads that clone instances at once. A clone holds its thread until the child's
    /// `execve` (vfork-style), and most of that time the child waits on the kernel or for a
    /// core, so more threads overlap more starts. Default 4.
    public var spawnThreads: Int

    public init(
        instanceLimits: ResourceLimits = ResourceLimits(memoryBytes: 128 << 20, cpus: 1, pids: 64),
        tenantLimits: [String: ResourceLimits] = [:],
        defaultTenantLimits: ResourceLimits = ResourceLimits(),
        seccomp: Bool = true,
        uid: UInt32 = 65534,
        gid: UInt32 = 65534,
        mountProc: Bool = true,
        hostSource: String = "127.0.0.1",
        cgroupParent: String? = nil,
        preparedNetworks: Int = 8,
        mountTemplate: Bool = true,
        spawnThreads: Int = 4
    ) {
        self.spawnThreads = max(1, spawnThreads)
        self.preparedNetworks = preparedNetworks
        self.mountTemplate = mountTemplate
        self.instanceLimits = instanceLimits
        self.tenantLimits = tenantLimits
        self.defaultTenantLimits = defaultTenantLimits
        self.seccomp = seccomp
        self.uid = uid
        self.gid = gid
        self.mountProc = mountProc
        self.hostSource = hostSource
        self.cgroupParent = cgroupParent
    }

    /// The limits of `tenant`'s cgroup.
    public func limits(ofTenant tenant: String) -> ResourceLimits {
        tenantLimits[tenant] ?? defaultTenantLimits
    }
}
