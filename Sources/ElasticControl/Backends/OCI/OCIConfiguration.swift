/// How the `oci` backend runs instances. The settings every backend shares (the `minicache`
/// executable, the work directory, volumes, arguments) are ``BackendSettings/instances``.
public struct OCIConfiguration: Sendable {
    /// An image `ecdn image oci` wrote; nil: the backend writes one into its work directory at
    /// start, from the shared `minicache` executable.
    public var image: String?
    /// The OCI runtime, a name on `PATH` or a path. Default `runc`.
    public var runtime: String
    /// Limits of each container's cgroup. Default 128 MiB, one core, 64 tasks (as a sandbox's).
    public var instanceLimits: ResourceLimits
    /// Give containers the sandbox's seccomp allow-list (the system calls `minicache` makes;
    /// others fail with EPERM). Default true.
    public var seccomp: Bool
    /// User and group the instance runs as inside the container. Default 65534 (nobody).
    public var uid: UInt32
    public var gid: UInt32
    /// The source address the host uses towards instances (a local address). Default 127.0.0.1.
    public var hostSource: String

    public init(
        image: String? = nil,
        runtime: String = "runc",
        instanceLimits: ResourceLimits = ResourceLimits(memoryBytes: 128 << 20, cpus: 1, pids: 64),
        seccomp: Bool = true,
        uid: UInt32 = 65534,
        gid: UInt32 = 65534,
        hostSource: String = "127.0.0.1"
    ) {
        self.image = image
        self.runtime = runtime
        self.instanceLimits = instanceLimits
        self.seccomp = seccomp
        self.uid = uid
        self.gid = gid
        self.hostSource = hostSource
    }
}
