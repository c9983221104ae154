/// How the `microvm` backend boots instances. The settings every backend shares (the
/// `minicache` executable, the work directory, volumes, arguments) are a
/// ``ProcessBackendConfiguration``.
public struct MicroVMConfiguration: Sendable {
    /// How guests run.
    public enum Accelerator: String, Sendable, CaseIterable {
        /// KVM when `/dev/kvm` opens, falling back to TCG when a KVM guest does not come up
        /// within ``MicroVMConfiguration/kvmBootTimeout``.
        case auto
        /// KVM only.
        case kvm
        /// QEMU's emulator only (slow, works everywhere).
        case tcg
    }

    /// An image `ecdn image vm` wrote; nil: the backend writes one into its work directory at
    /// start, from the shared `minicache` executable and the smallest kernel in /boot.
    public var image: String?
    /// QEMU, a name on `PATH` or a path. Default `qemu-system-x86_64`.
    public var qemu: String
    /// Guest memory in MiB; nil (the default): sized from the image, ``VMImage/guestMemoryMiB``.
    public var memoryMiB: Int?
    /// Default ``Accelerator/auto``.
    public var accelerator: Accelerator
    /// Seconds a KVM guest has to print its init's first line before it is stopped and booted
    /// again under TCG. Default 5.
    public var kvmBootTimeout: Double
    /// Seconds a guest has from launch to answering on its address: TCG boots take seconds, tens
    /// on a busy host. `ecdn up` waits at least this long for a microVM. Default 120.
    public var readyTimeout: Double
    /// More kernel command-line arguments.
    public var kernelArguments: [String]
    /// The source address the host uses towards guests (a local address). Default 127.0.0.1.
    public var hostSource: String

    public init(
        image: String? = nil,
        qemu: String = "qemu-system-x86_64",
        memoryMiB: Int? = nil,
        accelerator: Accelerator = .auto,
        kvmBootTimeout: Double = 5,
        readyTimeout: Double = 120,
        kernelArguments: [String] = [],
        hostSource: String = "127.0.0.1"
    ) {
        self.image = image
        self.qemu = qemu
        self.memoryMiB = memoryMiB
        self.accelerator = accelerator
        self.kvmBootTimeout = kvmBootTimeout
        self.readyTimeout = readyTimeout
        self.kernelArguments = kernelArguments
        self.hostSource = hostSource
    }
}
