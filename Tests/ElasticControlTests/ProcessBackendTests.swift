@testable import ElasticControl
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The process backend against the real `minicache` with an empty volume and an origin nobody listens on.
struct ProcessBackendTests {
    func backend(_ name: String, minicache: String = Binaries.minicache) throws -> ProcessBackend {
        try ProcessBackend(
            configuration: ProcessBackendConfiguration(
                minicachePath: minicache, workDirectory: TestEnvironment.temporaryDirectory(name), volumeSize: 16 << 20
            ),
            logger: TestEnvironment.logger
        )
    }

    func spec(_ id: String, octet: Int) -> InstanceSpec {
        InstanceSpec(id: id, site: "s", tenant: "t", address: "127.0.\(octet).10", port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9")
    }

    @Test func instanceBecomesReadyAnswersStatusAndStopsCleanly() async throws {
        let backend = try backend("lifecycle")
        let spec = spec("life-1", octet: 121)
        try await backend.launch(spec)
        let ready = await TestStack.eventually { backend.probe(spec.id) == .ready }
        #expect(ready)
        let status = try await HTTPClientForTests().get(spec.adminURL + "/admin/status")
        #expect(status.status == 200)
        #expect(String(buffer: status.body).contains("\"requests\""))
        // Nothing listens on the origin's port, so a miss is answered 502 (RFC 9110 §15.6.3).
        let data = try await HTTPClientForTests().get(spec.url + "/anything")
        #expect(data.status == 502)
        let volume = backend.configuration.workDirectory + "/life-1.shfs"
        #expect(FileManager.default.fileExists(atPath: volume))

        let how = await backend.terminate(spec.id, grace: 5)
        #expect(how == "exited with status 0")
        #expect(!FileManager.default.fileExists(atPath: volume))
        #expect(backend.probe(spec.id) == .exited("unknown instance"))
        await #expect(throws: ControlError.self) { try await HTTPClientForTests().get(spec.url + "/") }
    }

    @Test func killedInstanceIsSeenAsExited() async throws {
        let backend = try backend("kill")
        let spec = spec("kill-1", octet: 122)
        try await backend.launch(spec)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        let pid = try #require(backend.pid(of: spec.id))
        // Its own process group, so a signal to the group reaches it and nothing else.
        #expect(getpgid(pid) == pid)
        kill(pid, SIGKILL)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .exited("killed by signal 9") })
        await backend.terminateAll(grace: 0)
    }

    @Test func missingExecutableIsReportedWithAHint() async throws {
        let backend = try backend("missing", minicache: "/nonexistent/minicache")
        await #expect {
            try await backend.launch(spec("missing-1", octet: 123))
        } throws: { error in
            (error as? ControlError)?.code == .spawnFailed && "\(error)".contains("--minicache")
        }
    }
}
