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

/// Site hosts' caches listen on addresses other hosts reach: their admin listeners need a token.
struct SiteAdminTokenTests {
    @Test func aTokenFileIsCreatedOnceWithARandomTokenOnlyItsOwnerReads() throws {
        let path = TestEnvironment.temporaryDirectory("token") + "/admin.token"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let token = try AdminTokenFile.prepare(path)
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
        #expect(try AdminTokenFile.prepare(path) == token)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        try "short\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: ControlError.self) { try AdminTokenFile.prepare(path) }
    }

    @Test func anInstanceOnAReachableAddressWithoutATokenSaysWhyItExited() async throws {
        let backend = try ProcessBackend(
            configuration: ProcessBackendConfiguration(
                minicachePath: Binaries.minicache, workDirectory: TestEnvironment.temporaryDirectory("notoken"), volumeSize: 16 << 20
            ),
            logger: TestEnvironment.logger
        )
        // 0.0.0.0 is refused before anything is bound.
        let spec = InstanceSpec(id: "open-1", site: "s", tenant: "t", address: "0.0.0.0", port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9")
        try await backend.launch(spec)
        var probe = InstanceProbe.booting
        #expect(await TestStack.eventually {
            probe = backend.probe(spec.id)
            return probe != .booting
        })
        guard case .exited(let how) = probe else {
            Issue.record("still running: \(probe)")
            await backend.terminateAll(grace: 0)
            return
        }
        #expect(how.hasPrefix("exited with status 1: "))
        #expect(how.contains("--admin-token-file"))
        await backend.terminateAll(grace: 0)
    }

    @Test func anInstanceStartedWithTheTokenFileAnswersStatusOnlyWithTheToken() async throws {
        let work = TestEnvironment.temporaryDirectory("withtoken")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let token = try AdminTokenFile.prepare(work + "/admin.token")
        let backend = try ProcessBackend(
            configuration: ProcessBackendConfiguration(
                minicachePath: Binaries.minicache, workDirectory: work + "/process", volumeSize: 16 << 20, adminTokenFile: work + "/admin.token"
            ),
            logger: TestEnvironment.logger
        )
        let spec = InstanceSpec(id: "tok-1", site: "s", tenant: "t", address: "127.0.124.10", port: 18080, adminPort: 18081, origin: "http://127.0.0.1:9")
        try await backend.launch(spec)
        #expect(await TestStack.eventually { backend.probe(spec.id) == .ready })
        let client = HTTPClientForTests()
        let refused = try await client.get(spec.adminURL + "/admin/status")
        #expect(refused.status == 401)
        let status = try await client.get(spec.adminURL + "/admin/status", headers: [("Authorization", "Bearer \(token)")])
        #expect(status.status == 200)
        #expect(String(buffer: status.body).contains("\"requests\""))
        await backend.terminateAll(grace: 0)
    }
}
