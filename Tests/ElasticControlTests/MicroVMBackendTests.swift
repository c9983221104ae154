@testable import ElasticControl
import Foundation
import NIOCore
import Testing

/// The microvm backend with the host's QEMU and kernel, the real `minicache` in the initramfs
/// and its site address on a tap.
@Suite(.serialized) struct MicroVMBackendTests {
    static let unavailable = MicroVMBackend.unavailableReason() ?? (ImageTests.hasCompiler ? nil : "no C compiler to build the VM's init")

    func backend(_ name: String, accelerator: MicroVMConfiguration.Accelerator = .auto, adminTokenFile: String? = nil) throws -> MicroVMBackend {
        try MicroVMBackend(
            configuration: MicroVMConfiguration(accelerator: accelerator, kvmBootTimeout: 4),
            instances: ProcessBackendConfiguration(
                minicachePath: Binaries.minicache, workDirectory: TestEnvironment.temporaryDirectory(name), volumeSize: 16 << 20, adminTokenFile: adminTokenFile
            ),
            logger: TestEnvironment.logger
        )
    }

    func spec(_ id: String, octet: Int) -> InstanceSpec {
        InstanceSpec(id: id, site: "s", tenant: "t", address: "127.0.\(octet).10", port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9")
    }

    /// KVM first when /dev/kvm opens (a guest that does not come up falls back to TCG and says
    /// so), the guest serves on its site address, its admin listener asks for the token it
    /// found in its initramfs, a kill -9 of QEMU is seen, and stopping leaves no tap and no file.
    @Test(
        .enabled(if: unavailable == nil, "\(unavailable ?? "")"),
        .enabled(if: TestEnvironment.slow, "boots a VM (tens of seconds under TCG); set MINICACHE_SLOW_TESTS=1")
    )
    func guestServesOnItsSiteAddressAndLeavesNothingBehind() async throws {
        let tokenFolder = TestEnvironment.temporaryDirectory("vm-life-token")
        defer { try? FileManager.default.removeItem(atPath: tokenFolder) }
        let tokenFile = tokenFolder + "/admin.token"
        let token = try AdminTokenFile.prepare(tokenFile)
        let backend = try backend("vm-life", adminTokenFile: tokenFile)
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
        // The admin listener may open a moment after the data port the backend waits for.
        var answers: (without: Int, with: Int)?
        _ = await TestStack.eventually {
            answers = try? await AdminTokenCheck.statuses(adminURL: spec.adminURL, token: token)
            return answers != nil
        }
        #expect(answers?.without == 401)
        #expect(answers?.with == 200)
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

    static let kvmAvailable = access("/dev/kvm", R_OK | W_OK) == 0

    /// How a stand-in for QEMU behaves when asked for KVM (under TCG it waits to be stopped).
    enum FakeKVM: String {
        /// QEMU 7.2 on a nested host: an error on the console, then an exit with status 0.
        case exitsZero = "echo 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69'; exit 0"
        /// A guest that hangs after the kernel's decompressor: nothing on the console.
        case hangs = "exec sleep 600"
        /// The guest itself fails (its init reports it and powers off): the instance's end, not KVM's.
        case guestFails = "echo 'ecdn-init: failed: mount the volume /dev/vda: No such device'; exit 0"
    }

    /// A backend whose "QEMU" is a shell script behaving as `kvm` says, on an image of empty
    /// files (nothing boots: the test is about what the backend decides from QEMU's end and
    /// console).
    func fakeBackend(_ name: String, kvm: FakeKVM, bootTimeout: Double = 30) throws -> MicroVMBackend {
        let work = TestEnvironment.temporaryDirectory(name)
        let script = work + "/qemu"
        try "#!/bin/sh\ncase \"$*\" in *accel=kvm*) \(kvm.rawValue) ;; esac\nexec sleep 600\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let image = work + "/image"
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        for file in ["kernel", "initramfs.cpio"] { try Data().write(to: URL(fileURLWithPath: image + "/" + file)) }
        let manifest = VMImage.Manifest(
            kernelSource: "/dev/null", kernelVersion: "test", kernelFormat: "pvh", modules: [], staticExecutable: true, initramfsBytes: 30 << 20
        )
        try OCIImage.writeJSON(manifest, to: image + "/vm.json")
        return try MicroVMBackend(
            configuration: MicroVMConfiguration(image: image, qemu: script, accelerator: .auto, kvmBootTimeout: bootTimeout),
            instances: ProcessBackendConfiguration(minicachePath: Binaries.minicache, workDirectory: work + "/work", volumeSize: 16 << 20),
            logger: TestEnvironment.logger
        )
    }

    /// QEMU under KVM ending with status 0 before the guest answered, and a KVM guest printing
    /// nothing within the boot timeout, both send the guest to TCG (and every later one), and
    /// the note, the console log and `kvmWorks` say why.
    @Test(
        .enabled(if: unavailable == nil, "\(unavailable ?? "")"),
        .enabled(if: kvmAvailable, "KVM is tried only where /dev/kvm opens"),
        arguments: [FakeKVM.exitsZero, .hangs]
    )
    func aKVMGuestThatEndsOrStaysSilentIsBootedAgainUnderTCG(_ kvm: FakeKVM) async throws {
        let backend = try fakeBackend("vm-fallback", kvm: kvm, bootTimeout: kvm == .hangs ? 1 : 30)
        defer { try? FileManager.default.removeItem(atPath: (backend.instances.workDirectory as NSString).deletingLastPathComponent) }
        // Sized from the image: 30 MiB of initramfs twice, the kernel (96) and minicache (64), in steps of 16 MiB.
        #expect(backend.guestMemoryMiB == 224)
        let first = spec("vm-fallback-1", octet: 212)
        try await backend.launch(first)
        let kvmPid = try #require(backend.pid(of: first.id))
        #expect(await TestStack.eventually(timeout: 60) { backend.note(of: first.id)?.hasPrefix("TCG") == true })
        let note = try #require(backend.note(of: first.id))
        switch kvm {
        case .exitsZero:
            #expect(note.contains("QEMU under KVM exited with status 0 before the guest answered: qemu-system-x86_64: error: failed to set MSR"), "\(note)")
        default:
            #expect(note.contains("the KVM guest printed nothing within 1.0 s"), "\(note)")
        }
        #expect(backend.kvmWorks == false)
        #expect(backend.pid(of: first.id) != kvmPid)
        #expect(backend.probe(first.id) == .booting)
        let console = try String(contentsOfFile: backend.logPath(of: first.id), encoding: .utf8)
        #expect(console.contains("booting again under TCG"))

        let second = spec("vm-fallback-2", octet: 213)
        try await backend.launch(second)
        #expect(backend.note(of: second.id)?.hasPrefix("TCG (no KVM: ") == true)
        let taps = [backend.tap(of: first.id), backend.tap(of: second.id)].compactMap { $0 }
        await backend.terminateAll(grace: 1)
        #expect(taps.count == 2 && taps.allSatisfy { !InstanceLink.interfaceExists($0) })
    }

    /// A guest that says it failed (its init's failure line) ends the instance under KVM: no
    /// fallback, the end reported with the guest's reason.
    @Test(
        .enabled(if: unavailable == nil, "\(unavailable ?? "")"),
        .enabled(if: kvmAvailable, "KVM is tried only where /dev/kvm opens")
    )
    func aGuestsOwnFailureUnderKVMIsTheInstancesEndNotAFallback() async throws {
        let backend = try fakeBackend("vm-guest-fails", kvm: .guestFails)
        defer { try? FileManager.default.removeItem(atPath: (backend.instances.workDirectory as NSString).deletingLastPathComponent) }
        let instance = spec("vm-guest-fails-1", octet: 214)
        try await backend.launch(instance)
        #expect(await TestStack.eventually { backend.probe(instance.id) != .booting })
        #expect(backend.probe(instance.id) == .exited("exited with status 0: ecdn-init: failed: mount the volume /dev/vda: No such device"))
        #expect(backend.note(of: instance.id) == "KVM")
        #expect(backend.kvmWorks == nil)
        await backend.terminateAll(grace: 1)
    }

    /// One member of a `newc` cpio archive.
    struct CPIOMember: Equatable {
        var name: String
        var mode: UInt32
        var uid: UInt32
        var data: [UInt8]
    }

    /// Every member of the concatenated `newc` archives in `bytes` (zero padding between them
    /// skipped, as the kernel does).
    static func members(_ bytes: [UInt8]) -> [CPIOMember]? {
        func align(_ n: Int) -> Int { (n + 3) & ~3 }
        var members: [CPIOMember] = []
        var at = 0
        while at < bytes.count {
            if bytes[at] == 0 {
                at += 1
                continue
            }
            guard at + 110 <= bytes.count, String(decoding: bytes[at..<at + 6], as: UTF8.self) == "070701" else { return nil }
            let fields = (0..<13).map { UInt32(String(decoding: bytes[at + 6 + 8 * $0..<at + 14 + 8 * $0], as: UTF8.self), radix: 16) ?? 0 }
            let nameSize = Int(fields[11])
            let size = Int(fields[6])
            let nameStart = at + 110
            let dataStart = align(nameStart + nameSize)
            guard dataStart + size <= bytes.count else { return nil }
            let name = String(decoding: bytes[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            members.append(CPIOMember(name: name, mode: fields[1], uid: fields[2], data: Array(bytes[dataStart..<dataStart + size])))
            at = align(dataStart + size)
        }
        return members
    }

    @Test func theAdminTokenReachesTheGuestInAnArchiveAppendedToItsOwnInitramfs() throws {
        let work = TestEnvironment.temporaryDirectory("vm-token")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let image = try ArchiveFile(creating: work + "/image.cpio")
        try CPIOWriter().write([ArchiveEntry("init", mode: 0o755, .bytes(Array("init".utf8)))], to: image)
        try image.flush()
        let token = try AdminTokenFile.prepare(work + "/admin.token")

        try MicroVMBackend.writeInitramfs(work + "/image.cpio", adminToken: work + "/admin.token", to: work + "/initramfs.cpio")
        let imageBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: work + "/image.cpio")))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: work + "/initramfs.cpio")))
        // The image's archive unchanged, then one holding the token, root's and readable by root alone.
        #expect(Array(bytes.prefix(imageBytes.count)) == imageBytes)
        let members = try #require(Self.members(bytes))
        #expect(members.map(\.name) == ["init", "TRAILER!!!", "admin.token", "TRAILER!!!"])
        #expect(members[2] == CPIOMember(name: "admin.token", mode: 0o100400, uid: 0, data: Array((token + "\n").utf8)))
        #expect(AdminTokenCheck.owner(of: work + "/initramfs.cpio")?.mode == 0o600)
        // A token file that cannot be read is an error that names it.
        #expect(throws: ControlError.self) {
            try MicroVMBackend.writeInitramfs(work + "/image.cpio", adminToken: work + "/missing", to: work + "/other.cpio")
        }
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
