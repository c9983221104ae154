import ArgumentParser
import ElasticControl
import Foundation
import Logging

/// `ecdn density`: how many caches of a backend fit on this host, and how fast they start.
struct Density: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start N cache instances of one backend at once, check each serves, stop them all, and report density.",
        discussion: """
            First starts --single-starts instances one after another on the idle host (spawn -> \
            ready, the time a viewer at a cold site waits for), then all N at once (--concurrency \
            launches in flight), asks each for GET /admin/status, sums the instances' PSS, and stops \
            them. Instances listen on 127.64.0.10 and up (the sandbox backend routes each address to \
            its own veth). Prints progress, a table, and as its last line \
            `serving S/N; pss_per_instance_mib X; starts_per_s Y; spawn_to_ready_p50_ms Z`.
            Try: sudo ecdn density 100 --backend sandbox
            """
    )

    @Argument(help: "Instances to start at once.")
    var instances: Int

    @Option(help: ArgumentHelp("process, sandbox, oci or microvm.", valueName: "KIND"))
    var backend = BackendKind.sandbox.rawValue

    @Option(help: "Instances started one at a time first, for spawn -> ready on an idle host.")
    var singleStarts = 20

    @Option(help: "Launches in flight at once.")
    var concurrency = 64

    @Option(help: ArgumentHelp("Bytes of each instance's volume (sparse).", valueName: "BYTES"))
    var volumeSize: Int64 = 64 << 20

    @Option(help: ArgumentHelp("Sandbox and oci: memory limit of each instance.", valueName: "MIB"))
    var instanceMemory = 128

    @Option(help: ArgumentHelp("The minicache executable (default: next to ecdn).", valueName: "PATH"))
    var minicache: String?

    @Option(help: ArgumentHelp("Folder for volumes and logs (default: a fresh one in /tmp, removed at exit).", valueName: "DIR"))
    var workDir: String?

    @Option(help: ArgumentHelp("Sandbox: network namespaces kept prepared ahead of need (0: each start makes its own).", valueName: "N"))
    var preparedNetworks = SandboxConfiguration().preparedNetworks

    @Flag(inversion: .prefixedNo, help: "Sandbox: copy each instance's mounts from a template mount namespace (--no-mount-template: copy the host's and pivot per instance).")
    var mountTemplate = SandboxConfiguration().mountTemplate

    @Option(help: ArgumentHelp("Sandbox: threads that clone instances at once.", valueName: "N"))
    var spawnThreads = SandboxConfiguration().spawnThreads

    @Option(help: ArgumentHelp("Oci: the image `ecdn image oci` wrote (default: one written at start from --minicache).", valueName: "DIR"))
    var ociImage: String?

    @Option(help: ArgumentHelp("Microvm: the image `ecdn image vm` wrote (default: one written at start).", valueName: "DIR"))
    var vmImage: String?

    @Option(help: ArgumentHelp("Microvm: auto, kvm or tcg.", valueName: "KIND"))
    var vmAccelerator = MicroVMConfiguration.Accelerator.auto.rawValue

    @Option(help: ArgumentHelp("Microvm: guest memory (default: sized from the image's initramfs).", valueName: "MIB"))
    var vmMemory: Int?

    @Option(help: ArgumentHelp("Also write the report as JSON here.", valueName: "FILE"))
    var json: String?

    @Option(help: "Log level.")
    var logLevel = "warning"

    func validate() throws {
        guard instances >= 1, singleStarts >= 0, concurrency >= 1, preparedNetworks >= 0, spawnThreads >= 1 else {
            throw ValidationError("N, --concurrency and --spawn-threads must be at least 1")
        }
        guard BackendKind(rawValue: backend) != nil else {
            throw ValidationError("--backend must be one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard MicroVMConfiguration.Accelerator(rawValue: vmAccelerator) != nil else { throw ValidationError("--vm-accelerator must be auto, kvm or tcg") }
    }

    func run() async throws {
        let logger = Up.bootstrapLogging(logLevel)
        let minicachePath = minicache ?? Up.siblingExecutable("minicache")
        let ownWorkDir = workDir == nil
        let work = workDir ?? "/tmp/ecdn-density-\(getpid())"
        defer { if ownWorkDir { try? FileManager.default.removeItem(atPath: work) } }
        let kind = BackendKind(rawValue: backend) ?? .sandbox
        // Volumes are formatted ahead (a host keeps a pool of spares): the start path only renames one.
        let limits = ResourceLimits(memoryBytes: Int64(instanceMemory) << 20, cpus: 1, pids: 64)
        let settings = BackendSettings(
            instances: ProcessBackendConfiguration(
                minicachePath: minicachePath, workDirectory: work, volumeSize: volumeSize,
                spareVolumes: instances + singleStarts
            ),
            sandbox: SandboxConfiguration(instanceLimits: limits, preparedNetworks: preparedNetworks, mountTemplate: mountTemplate, spawnThreads: spawnThreads),
            oci: OCIConfiguration(image: ociImage, instanceLimits: limits),
            microvm: MicroVMConfiguration(image: vmImage, memoryMiB: vmMemory, accelerator: MicroVMConfiguration.Accelerator(rawValue: vmAccelerator) ?? .auto)
        )
        let site: any SiteBackend
        do {
            site = try kind.makeBackend(settings, logger: logger)
        } catch {
            Up.fail("\(error)")
        }
        let spares = "\(work)/\(kind.rawValue)"
        print("preparing \(instances + singleStarts) volumes in \(spares) ...")
        while ((try? FileManager.default.contentsOfDirectory(atPath: spares)) ?? []).filter({ $0.hasPrefix("spare-") }).count < instances + singleStarts {
            try await Task.sleep(for: .milliseconds(200))
        }
        var sandboxNote = (site as? SandboxBackend).map { ", \($0.executableIsStatic ? "static" : "dynamic") minicache, cgroup \($0.cgroupLayout.versionDescription)" } ?? ""
        if let oci = site as? OCIBackend {
            sandboxNote = ", \(oci.runtime.version), image \(oci.image.directory) (\(oci.image.isStatic ? "static" : "dynamic") minicache)"
        }
        if let vm = site as? MicroVMBackend {
            let m = vm.image.manifest
            sandboxNote = ", kernel \(m.kernelVersion) (\(m.kernelFormat)), initramfs \(m.initramfsBytes >> 20) MiB (\(m.staticExecutable ? "static" : "dynamic") minicache), \(vm.guestMemoryMiB) MiB guests"
        }
        print("backend \(kind)\(sandboxNote); \(ProcessInfo.processInfo.activeProcessorCount) cores; load \(DensityBenchmark.loadAverage())")
        let benchmark = DensityBenchmark(instances: instances, singleStarts: singleStarts, concurrency: concurrency)
        let report = await benchmark.run(backend: site, kind: kind.rawValue) { print($0) }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        for failure in report.failures.prefix(10) { print("failure: \(failure)") }
        if let sandbox = site as? SandboxBackend {
            let steps = sandbox.startProfile().map { "\($0.step) \(String(format: "%.2f", $0.milliseconds))" }
            print("sandbox start, median ms per step (clone -> execve, \(preparedNetworks) prepared networks, \(spawnThreads) spawner threads, mount template \(sandbox.usesMountTemplate ? "on" : "off")): " + steps.joined(separator: ", "))
        }
        print(report.table)
        print(report.summaryLine)
    }
}
