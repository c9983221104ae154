@testable import ElasticControl
import Foundation
import NIOCore
import Testing

/// The oci backend with the host's runc, the real `minicache` and its site address on a veth.
@Suite(.serialized) struct OCIBackendTests {
    static let unavailable = OCIBackend.unavailableReason()

    func backend(_ name: String, image: String? = nil, adminTokenFile: String? = nil) throws -> OCIBackend {
        try OCIBackend(
            configuration: OCIConfiguration(image: image),
            instances: ProcessBackendConfiguration(
                minicachePath: Binaries.minicache, workDirectory: TestEnvironment.temporaryDirectory(name), volumeSize: 16 << 20, adminTokenFile: adminTokenFile
            ),
            logger: TestEnvironment.logger
        )
    }

    /// Runs `body` with a new backend, then stops whatever it left running (also when `body`
    /// throws: a container, its veth and its route would outlive the test) and removes its folder.
    func withBackend(_ name: String, image: String? = nil, adminTokenFile: String? = nil, _ body: (OCIBackend) async throws -> Void) async throws {
        let backend = try backend(name, image: image, adminTokenFile: adminTokenFile)
        defer { try? FileManager.default.removeItem(atPath: backend.instances.workDirectory) }
        do {
            try await body(backend)
        } catch {
            await backend.terminateAll(grace: 0)
            throw error
        }
        await backend.terminateAll(grace: 0)
    }

    func spec(_ id: String, octet: Int, origin: String = "http://127.0.0.1:9") -> InstanceSpec {
        InstanceSpec(id: id, site: "s", tenant: "t", address: "127.0.\(octet).10", port: 18080, adminPort: 18081, origin: origin)
    }

    @Test(.enabled(if: unavailable == nil, "\(unavailable ?? "")"))
    func containerServesOnItsSiteAddressIsIsolatedAndLeavesNothingBehind() async throws {
        try await withBackend("oci-life") { backend in
            let spec = spec("oci-life-1", octet: 221)
            try await backend.launch(spec)
            #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
            let status = try await HTTPClientForTests().get(spec.adminURL + "/admin/status")
            #expect(status.status == 200)
            // Nothing listens on the origin's port, so a miss is answered 502, from inside the container.
            #expect(try await HTTPClientForTests().get(spec.url + "/anything").status == 502)

            let pid = try #require(backend.pid(of: spec.id))
            let (interface, namespace) = try #require(backend.network(of: spec.id))
            let container = try #require(backend.containerID(of: spec.id))
            // Its own PID and network namespaces; minicache is PID 1 inside and runs as nobody.
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid") != FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"))
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") != FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net"))
            let processStatus = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            #expect(processStatus.contains("NSpid:\t\(pid)\t1"))
            #expect(processStatus.contains("Uid:\t65534"))
            #expect(processStatus.contains("CapEff:\t0000000000000000"))
            #expect(InstanceLink.interfaceExists(interface))
            #expect(FileManager.default.fileExists(atPath: namespace))
            #expect(backend.runtime.state(id: container)?.status == "running")

            let how = await backend.terminate(spec.id, grace: 5)
            #expect(how == "exited with status 0")
            #expect(backend.runtime.state(id: container) == nil)
            #expect(!InstanceLink.interfaceExists(interface))
            #expect(!FileManager.default.fileExists(atPath: namespace))
            #expect(!FileManager.default.fileExists(atPath: backend.instances.workDirectory + "/" + container))
            #expect(!FileManager.default.fileExists(atPath: backend.logPath(of: spec.id)))
            await #expect(throws: ControlError.self) { try await HTTPClientForTests().get(spec.url + "/") }
        }
    }

    @Test(.enabled(if: unavailable == nil, "\(unavailable ?? "")"))
    func theAdminTokenFileIsCopiedIntoTheContainerAndItsAdminListenerAsksForIt() async throws {
        let tokenFolder = TestEnvironment.temporaryDirectory("oci-token-file")
        defer { try? FileManager.default.removeItem(atPath: tokenFolder) }
        let tokenFile = tokenFolder + "/admin.token"
        let token = try AdminTokenFile.prepare(tokenFile)
        try await withBackend("oci-token", adminTokenFile: tokenFile) { backend in
            let spec = spec("oci-token-1", octet: 224)
            try await backend.launch(spec)
            #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
            try await AdminTokenCheck.expectAsked(adminURL: spec.adminURL, token: token, copyInRootOf: try #require(backend.pid(of: spec.id)))
        }
    }

    @Test(.enabled(if: unavailable == nil, "\(unavailable ?? "")"))
    func killedContainerIsSeenWithItsSignal() async throws {
        try await withBackend("oci-kill") { backend in
            let spec = spec("oci-kill-1", octet: 222)
            try await backend.launch(spec)
            #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
            let pid = try #require(backend.pid(of: spec.id))
            kill(pid, SIGKILL)
            #expect(await TestStack.eventually { backend.probe(spec.id) == .exited("killed by signal 9") })
            await backend.terminateAll(grace: 0)
            #expect(backend.runtime.list().isEmpty)
        }
    }

    @Test(.enabled(if: unavailable == nil, "\(unavailable ?? "")"))
    func containerTheRuntimeCannotStartIsReportedWithTheRuntimesMessage() async throws {
        let work = TestEnvironment.temporaryDirectory("oci-broken")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let image = try OCIImage.build(OCIImage.BuildOptions(minicache: Binaries.minicache, strip: false, compress: false), into: work + "/image")
        // An image whose executable is a folder: the runtime cannot start the container.
        try FileManager.default.removeItem(atPath: image.rootfs + "/minicache")
        try FileManager.default.createDirectory(atPath: image.rootfs + "/minicache", withIntermediateDirectories: false)
        try await withBackend("oci-broken-backend", image: image.directory) { backend in
            await #expect {
                try await backend.launch(spec("oci-broken-1", octet: 223))
            } throws: { error in
                let text = "\(error)"
                return (error as? ControlError)?.code == .spawnFailed && text.contains("runc could not start") && text.contains("/minicache")
            }
            #expect(backend.runtime.list().isEmpty)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: backend.instances.workDirectory + "/netns"))?.isEmpty == true)
        }
    }

    @Test func crunIsExplainedOnHybridCgroups() {
        let hybrid = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let unified = "31 23 0:28 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw"
        let reason = OCIRuntime.incompatibility(of: "/usr/bin/crun", mountinfo: hybrid)
        #expect(reason?.contains("hybrid") == true)
        #expect(reason?.contains("runc") == true)
        #expect(OCIRuntime.incompatibility(of: "/usr/bin/crun", mountinfo: unified) == nil)
        #expect(OCIRuntime.incompatibility(of: "/usr/sbin/runc", mountinfo: hybrid) == nil)
    }
}
