import Logging

/// How a site runs its cache instances (`--backend`).
///
/// Adding a backend takes a file with its ``SiteBackend`` type (and its options in
/// ``BackendSettings``) plus its case here and in ``makeBackend(_:logger:)``.
public enum BackendKind: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// `minicache` child processes (no isolation; the one-command demo's default).
    case process
    /// Each instance in its own namespaces, read-only root, cgroups and seccomp filter.
    case sandbox
    /// An OCI runtime (runc) running an image `ecdn image oci` wrote.
    case oci
    /// A QEMU microVM booting an initramfs `ecdn image vm` built.
    case microvm

    public var description: String { rawValue }

    /// Creates the backend of this kind.
    /// - Throws: ``ControlError`` `badConfiguration` when the backend cannot run here (the message
    ///   says what is missing), or `imageFailed` when its image cannot be read or written.
    public func makeBackend(_ settings: BackendSettings, logger: Logger) throws(ControlError) -> any SiteBackend {
        var instances = settings.instances
        instances.workDirectory += "/" + rawValue
        switch self {
        case .process:
            return try ProcessBackend(configuration: instances, logger: logger)
        case .sandbox:
            return try SandboxBackend(configuration: settings.sandbox, instances: instances, logger: logger)
        case .oci:
            return try OCIBackend(configuration: settings.oci, instances: instances, logger: logger)
        case .microvm:
            return try MicroVMBackend(configuration: settings.microvm, instances: instances, logger: logger)
        }
    }
}
