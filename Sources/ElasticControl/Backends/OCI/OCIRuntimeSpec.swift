#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An OCI runtime configuration (`config.json` of a bundle, runtime-spec 1.0): what `runc`
/// runs and how it isolates it. Only the fields MiniCache uses.
package struct OCIRuntimeSpec: Codable, Equatable, Sendable {
    package var ociVersion = "1.0.2"
    package var process: Process
    package var root: Root
    package var hostname: String
    package var mounts: [Mount]
    package var linux: Linux

    /// The open-file limit of a container: 65,536, or this process's hard limit when lower (the
    /// runtime cannot raise it without CAP_SYS_RESOURCE, which a host that is itself a container
    /// may lack: runc then fails with "error setting rlimit type 7").
    static var openFiles: UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return min(65536, UInt64(limit.rlim_max))
    }

    package struct Process: Codable, Equatable, Sendable {
        package var terminal = false
        package var user: User
        package var args: [String]
        package var env: [String]
        package var cwd = "/"
        package var capabilities = Capabilities()
        package var rlimits: [Rlimit]
        package var noNewPrivileges = true
    }

    package struct User: Codable, Equatable, Sendable {
        package var uid: UInt32
        package var gid: UInt32
    }

    /// Empty sets: the process holds no capability.
    package struct Capabilities: Codable, Equatable, Sendable {
        package var bounding: [String] = []
        package var effective: [String] = []
        package var inheritable: [String] = []
        package var permitted: [String] = []
        package var ambient: [String] = []
    }

    package struct Rlimit: Codable, Equatable, Sendable {
        package var type: String
        package var hard: UInt64
        package var soft: UInt64
    }

    package struct Root: Codable, Equatable, Sendable {
        package var path: String
        package var readonly: Bool
    }

    package struct Mount: Codable, Equatable, Sendable {
        package var destination: String
        package var type: String
        package var source: String
        package var options: [String]
    }

    package struct Linux: Codable, Equatable, Sendable {
        package var namespaces: [Namespace]
        package var resources: Resources
        package var cgroupsPath: String?
        package var maskedPaths: [String]
        package var readonlyPaths: [String]
        package var seccomp: Seccomp?
    }

    package struct Namespace: Codable, Equatable, Sendable {
        package var type: String
        /// Join this namespace instead of creating one.
        package var path: String?
    }

    package struct Resources: Codable, Equatable, Sendable {
        package var devices: [DeviceRule] = [DeviceRule(allow: false, access: "rwm")]
        package var memory: Memory?
        package var cpu: CPU?
        package var pids: Pids?
    }

    package struct DeviceRule: Codable, Equatable, Sendable {
        package var allow: Bool
        package var access: String
    }

    package struct Memory: Codable, Equatable, Sendable {
        package var limit: Int64
    }

    package struct CPU: Codable, Equatable, Sendable {
        package var quota: Int64
        package var period: UInt64
    }

    package struct Pids: Codable, Equatable, Sendable {
        package var limit: Int64
    }

    package struct Seccomp: Codable, Equatable, Sendable {
        package var defaultAction: String
        package var architectures: [String]
        package var syscalls: [SyscallRule]
    }

    package struct SyscallRule: Codable, Equatable, Sendable {
        package var names: [String]
        package var action: String
    }

    /// The network a container gets.
    package enum Network: Sendable, Equatable {
        /// A new namespace with only `lo`.
        case new
        /// The namespace bound at this path (an instance's, with its site address).
        case join(String)
        /// The host's own (no network namespace).
        case host
    }

    /// How the runtime should run one `minicache`.
    package struct Options: Sendable {
        /// `argv`, the executable's path inside the root first.
        package var arguments: [String]
        /// The bundle's root: relative to the bundle, or absolute (a root shared by instances).
        package var rootPath = "rootfs"
        /// A host folder bound read-write at `/data` (volume, ready file), or nil for none.
        package var dataDirectory: String?
        package var network: Network = .new
        package var hostname = "minicache"
        package var uid: UInt32 = 65534
        package var gid: UInt32 = 65534
        package var cgroupsPath: String?
        package var memoryBytes: Int64?
        /// Share of one core (1.0: one core).
        package var cpus: Double?
        package var pids: Int?
        /// Host files bound read-only at the same path (`/etc/hosts`, `/etc/resolv.conf`).
        package var hostFiles: [String] = []
        /// System calls allowed (anything else fails with EPERM); nil: no filter.
        package var allowedSyscalls: [String]?

        package init(arguments: [String]) {
            self.arguments = arguments
        }
    }

    /// A configuration for `options`: new PID, IPC, UTS and mount namespaces (and a network one
    /// unless one is given), a read-only root, no capabilities, `no_new_privs`, an unprivileged
    /// user, the default masked and read-only paths of `runc spec`.
    package init(_ options: Options) {
        var mounts = [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "noexec", "strictatime", "mode=755", "size=1024k"]),
        ]
        if let data = options.dataDirectory {
            mounts.append(Mount(destination: "/data", type: "bind", source: data, options: ["rbind", "rw", "nosuid", "nodev", "noexec"]))
        }
        for file in options.hostFiles {
            mounts.append(Mount(destination: file, type: "bind", source: file, options: ["bind", "ro", "nosuid", "nodev", "noexec"]))
        }
        var namespaces = ["pid", "ipc", "uts", "mount"].map { Namespace(type: $0) }
        switch options.network {
        case .new: namespaces.append(Namespace(type: "network"))
        case .join(let path): namespaces.append(Namespace(type: "network", path: path))
        case .host: break
        }
        var resources = Resources()
        resources.memory = options.memoryBytes.map { Memory(limit: $0) }
        resources.cpu = options.cpus.map { CPU(quota: Int64($0 * 100_000), period: 100_000) }
        resources.pids = options.pids.map { Pids(limit: Int64($0)) }
        self.process = Process(
            user: User(uid: options.uid, gid: options.gid), args: options.arguments, env: ["PATH=/"],
            rlimits: [Rlimit(type: "RLIMIT_NOFILE", hard: Self.openFiles, soft: Self.openFiles)]
        )
        self.root = Root(path: options.rootPath, readonly: true)
        self.hostname = options.hostname
        self.mounts = mounts
        self.linux = Linux(
            namespaces: namespaces, resources: resources, cgroupsPath: options.cgroupsPath,
            maskedPaths: [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            seccomp: options.allowedSyscalls.map {
                Seccomp(
                    defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    syscalls: [SyscallRule(names: $0, action: "SCMP_ACT_ALLOW")]
                )
            }
        )
    }
}
