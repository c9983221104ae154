/// What the backends need: the settings every backend shares (the `minicache` executable, the
/// work directory, volumes, arguments) and each backend's own options.
public struct BackendSettings: Sendable {
    /// Shared by every backend. Each backend works in its own subfolder of
    /// ``ProcessBackendConfiguration/workDirectory`` (`process/`, `sandbox/`, ...).
    public var instances: ProcessBackendConfiguration
    /// Isolation and limits of the sandbox backend.
    public var sandbox: SandboxConfiguration

    public init(instances: ProcessBackendConfiguration, sandbox: SandboxConfiguration = SandboxConfiguration()) {
        self.instances = instances
        self.sandbox = sandbox
    }
}
