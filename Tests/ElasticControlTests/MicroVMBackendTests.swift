@testable import ElasticControl
import Foundation
import NIOCore
import Testing

/// The microvm backend with the host's QEMU and kernel, the real `minicache` in the initramfs
/// and its site address on a tap.
@Suite(.serialized) struct MicroVMBackendTests {
    static let unavailable = MicroVMBackend.unavailableReason() ?? (ImageTests.hasCompiler ? nil : "no C compiler to build the VM's init")

    func backend(_ name: String, accelerator: MicroVMConfiguration.Accelerator = .auto) throws -> MicroVMBackend {
        try MicroVMBackend(
            configuration: MicroVMConfiguration(accelerator: accelerator, kvmBootTimeout: 4),
            instances: ProcessBackendConfiguration(minicachePath: Binaries.minicache, workDirectory: TestEnvironment.temporaryDirectory(name), volumeSize: 16 << 20),
            logger: TestEnvironment.logger
        )
    }

    func spec(_ id: String, octet: Int) -> InstanceSpec {
        InstanceSpec(id: id, site: "s", tenant: "t", address: "127.0.\(octet).10", port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9")
    }

    /// KVM first when /dev/kvm opens (a guest that does not come up falls back to TCG and says
    /// so), the guest serves on its site address, a kill -9 of QEMU is seen, and stopping
    /// leaves no tap and no file.
    @Test(
        .enabled(if: unavailable == nil, "\(unavailable ?? "")"),
        .enabled(if: TestEnvironment.slow, "boots a VM (tens of seconds under TCG); set MINICACHE_SLOW_TESTS=1")
    )
    func guestServesOnItsSiteAddressAndLeavesNothingBehind() async throws {
        let backend = try backend("vm-life")
        defer { try? FileManager.default.removeItem(atPath: backend.instances.workDirectory) }
        let spec = spec("vm-life-1", octet: 211)
        try await backend.launch(spec)
        // A safety margin for TCG on a busy host, not a claim about speed (scripts/bench-density.sh measures that).
        #expect(await TestStack.eventually(timeout: 300) { backend.probe(spec.id) != .booting })
        #expect(backend.probe(spec.id) == .ready, "console: \(MicroVMBackend.failure(inLog: backend.logPath(of: spec.id)) ?? "")")
        let note = try #require(backend.note(of: spec.id))
        if backend.kvmWorks == false {
            #expect(note.hasPrefix("TCG"))
            let console = try String(contentsOfFile: backend.logPath(of: spec.id), encoding: .utf8)
            #expect(console.contains("booting again under TCG") || note.contains("no KVM"))
        } else {
            #expect(note == "KVM")
        }
        let status = try await HTTPClientForTests().get(spec.adminURL + "/admin/status")
        #expect(status.status == 200)
        #expect(try await HTTPClientForTests().get(spec.url + "/anything").status == 502)
        let console = try String(contentsOfFile: backend.logPath(of: spec.id), encoding: .utf8)
        #expect(console.contains(VMInit.execMarker))

        let tap = try #require(backend.tap(of: spec.id))
        #expect(InstanceLink.interfaceExists(tap))
        let pid = try #require(backend.pid(of: spec.id))
        kill(pid, SIGKILL)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .exited("killed by signal 9") })
        await backend.terminate(spec.id, grace: 1)
        #expect(!InstanceLink.interfaceExists(tap))
        #expect(!FileManager.default.fileExists(atPath: backend.instances.workDirectory + "/vm-life-1"))
    }

    @Test func commandLineCarriesTheNetworkDiskAndMinicacheArguments() {
        var command = QEMUCommand(
            kernel: "/k", initramfs: "/i", volume: "/v.shfs", tap: "mv1", guestMAC: "02:ec:22:00:00:01", hostMAC: "02:ec:21:00:00:01",
            address: "127.0.9.10", memoryMiB: 128, accelerator: .tcg, minicacheArguments: ["serve", "/dev/vda", "--listen", "127.0.9.10:18080"],
            tscKHz: 2_000_000
        )
        #expect(command.commandLine.hasSuffix("ecdn.addr=127.0.9.10 ecdn.gateway_mac=02:ec:21:00:00:01 ecdn.disk=/dev/vda -- serve /dev/vda --listen 127.0.9.10:18080"))
        #expect(command.commandLine.contains("tsc_early_khz=2000000"))
        #expect(command.arguments.contains("microvm,accel=tcg,x-option-roms=off"))
        #expect(command.arguments.contains("virtio-net-device,netdev=net,mac=02:ec:22:00:00:01"))
        command.accelerator = .kvm
        #expect(!command.commandLine.contains("tsc_early_khz"))
        #expect(command.arguments.contains("host"))
    }

    @Test func hostTSCFrequencyIsReadOnlyWhenConstant() {
        let constant = "flags\t\t: fpu tsc constant_tsc nonstop_tsc\ncpu MHz\t\t: 2445.432\n"
        #expect(MicroVMBackend.hostTSCKHz(cpuinfo: constant) == 2_445_432)
        #expect(MicroVMBackend.hostTSCKHz(cpuinfo: "flags\t\t: fpu tsc\ncpu MHz\t\t: 2445.432\n") == nil)
    }
}
