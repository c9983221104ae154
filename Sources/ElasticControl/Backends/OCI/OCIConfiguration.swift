/// How the `oci` backend runs instances. The settings every backend shares (the `minicache`
/// executable, the work directory, volumes, arguments) are a ``ProcessBackendConfiguration``.
public struct OCIConfiguration: Sendable {
    /// An image `ecdn image oci` wrote; nil: the backend writes one into its work directory at
    /// start, from the shared `minicache` executable.
    public var image: String?
    /// The OCI runtime, a name on `PATH` or a path. Default `runc`.
    public var runtime: String
    /// Memory limit of each container's cgroup, in bytes. Default 128 MiB.
    public var memoryBytes: Int64?
    /// CPU limit of each container, in cores. Default 1.
    public var cpus: Double?
    /// Processes and threads of each container. Default 64.
    public var pids: Int?
    /// User and group the instance runs as inside the container. Default 65534 (nobody).
    public var uid: UInt32
    public var gid: UInt32
    /// The source address the host uses towards instances (a local address). Default 127.0.0.1.
    public var hostSource: String

    public init(
        image: String? = nil,
        runtime: String = "runc",
        memoryBytes: Int64? = 128 << 20,
        cpus: Double? = 1,
        pids: Int? = 64,
        uid: UInt32 = 65534,
        gid: UInt32 = 65534,
        hostSource: String = "127.0.0.1"
    ) {
        self.image = image
        self.runtime = runtime
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.pids = pids
        self.uid = uid
        self.gid = gid
        self.hostSource = hostSource
    }
}
