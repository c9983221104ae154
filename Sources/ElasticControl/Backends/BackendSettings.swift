/// What the backends need: the settings every backend shares (the `minicache` executable, the
/// work directory, volumes, arguments) and each backend's own options.
public struct BackendSettings: Sendable {
    /// Shared by every backend. Each backend works in its own subfolder of
    /// ``ProcessBackendConfiguration/workDirectory`` (`process/`, `sandbox/`, ...).
    public var instances: ProcessBackendConfiguration
    /// Isolation and limits of the sandbox backend.
    public var sandbox: SandboxConfiguration
    /// The image, runtime and limits of the oci backend.
    public var oci: OCIConfiguration
    /// The image, QEMU and guests of the microvm backend.
    public var microvm: MicroVMConfiguration

    public init(
        instances: ProcessBackendConfiguration, sandbox: SandboxConfiguration = SandboxConfiguration(),
        oci: OCIConfiguration = OCIConfiguration(), microvm: MicroVMConfiguration = MicroVMConfiguration()
    ) {
        self.instances = instances
        self.sandbox = sandbox
        self.oci = oci
        self.microvm = microvm
    }
}
