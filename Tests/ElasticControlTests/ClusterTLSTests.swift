@testable import ElasticControl
import EtcdClient
import Foundation
import HTTPToolkit
import LocalCA
import MediaOrigin
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import Testing

/// HTTPS on the distributed control plane, on a real etcd: `ecdn up --tls --store` (every role
/// in one process) and the roles as processes of their own (`ecdn router`, `ecdn controller`,
/// `ecdn agent` with `--tls-cert`/`--tls-key`, `ecdn controller --cache-tls`).
@Suite(.serialized, .enabled(if: EtcdTestServer.available, EtcdTestServer.unavailableReason))
struct ClusterTLSTests {
    @Test(
        "ecdn up --tls --store: https URLs and the CA; a viewer is sent over HTTPS through the router to an HTTPS cache filled from the HTTPS origin, checked against the printed CA",
        .enabled(if: UpTLSTests.curl != nil, "needs curl")
    )
    func upWithStoreServesHTTPS() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let up = try await UpProcess([
            "up", "--tls", "--store", etcd.url, "--router-port", "0", "--api-port", "0", "--origin-port", "0", "--first-site-octet", "148",
            "--sites", "1", "--router-wait", "10", "--ready-timeout", "60",
        ])
        do {
            try await Self.viewerOverHTTPS(up.lines, store: etcd.url)
        } catch {
            await up.process.stop()
            throw error
        }
        // SIGTERM stops the caches, which needs etcd: before etcd goes.
        await up.process.stop()
    }

    static func viewerOverHTTPS(_ lines: [String: String], store url: String) async throws {
        let (router, api, ca) = try UpTLSTests.httpsLines(lines)
        #expect(lines["store"] == url)

        // The first viewer is held until the leader's cache is ready (up to --router-wait), then
        // sent to it over HTTPS.
        let client = try HTTPClientForTests(caFile: ca)
        let redirect = try await client.get(router + "/live/1/index.m3u8", from: "127.0.148.8")
        #expect(redirect.status == 302)
        let location = try #require(redirect.headers.first(name: "Location"))
        #expect(location.hasPrefix("https://127.0.148.10:"), "\(location)")
        let instance = try #require(redirect.headers.first(name: "X-ECDN-Instance"))

        // curl (OpenSSL) checks the router's and the cache's certificates against the printed CA.
        let curl = try await ProcessRun.run(
            try #require(UpTLSTests.curl), ["-sS", "-m", "10", "-L", "--cacert", ca, "--interface", "127.0.148.8", router + "/live/1/index.m3u8"]
        )
        #expect(curl.status == 0, "\(curl.error)")
        #expect(curl.output.hasPrefix("#EXTM3U"), "\(curl.output.prefix(200))")

        // The placement in etcd asks for HTTPS; the API lists the cache with its https URL.
        let store = try EtcdClient(configuration: EtcdConfiguration(url: url))
        let placements = try await store.snapshot(prefix: ClusterKeys().placements).keyValues.compactMap {
            ClusterRecords.decode(PlacementRecord.self, from: $0.value)
        }
        await store.close()
        #expect(placements.first { $0.id == instance }?.tls == true, "\(placements)")
        let instances = try await client.get(api + "/instances")
        #expect(String(buffer: instances.body).contains("\"url\":\"https://127.0.148.10:"), "\(String(buffer: instances.body))")
        let leader = try await client.get(api + "/leader")
        #expect(leader.status == 200)

        // Without the CA the router's certificate is refused.
        let refused = try await ProcessRun.run(try #require(UpTLSTests.curl), ["-sS", "-m", "10", router + "/live/1/index.m3u8"])
        #expect(refused.status == 60, "curl exit \(refused.status): \(refused.error)")
    }

    @Test("ecdn controller, agent and router as processes with --tls-cert/--tls-key and --cache-tls: the viewer goes over HTTPS to an HTTPS cache; a bad key is refused with its file named")
    func rolesServeHTTPS() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let work = TestEnvironment.temporaryDirectory("cluster-tls")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let authority = try LocalCertificateAuthority(name: "cluster TLS test CA", days: 1)
        let files = try authority.write(to: work + "/tls", names: ["127.0.0.1", "127.0.149.10", "127.0.149.11"])
        let https = ["--tls-cert", files.certificate, "--tls-key", files.key]
        let origin = try await DemoOrigin(configuration: DemoOriginConfiguration(port: 0), group: ClusterTests.group, logger: TestEnvironment.logger)

        let initialized = try await ProcessRun.run(Binaries.ecdn, [
            "state", "init", "--store", etcd.url, "--sites", "1", "--first-site-octet", "149", "--origin", origin.url,
        ])
        #expect(initialized.status == 0, "\(initialized.error)")
        let controller = try ECDNProcess(["controller", "--store", etcd.url, "--id", "c1", "--api", "127.0.0.1:0", "--cache-tls"] + https)
        let agent = try ECDNProcess(["agent", "--store", etcd.url, "--site", "site1", "--work-dir", work + "/agent"] + https)
        let router = try ECDNProcess(["router", "--store", etcd.url, "--id", "r1", "--listen", "127.0.0.1:0", "--router-wait", "10"] + https)
        var failure: (any Error)?
        do {
            try await Self.rolesServe(controller: controller, agent: agent, router: router, ca: files.ca)
        } catch {
            failure = error
        }
        await router.stop()
        await agent.stop()
        await controller.stop()
        // The agent's caches outlive it (for the next agent to adopt): stop them here.
        await Self.stopCaches(in: work + "/agent")
        await origin.close()
        if let failure { throw failure }

        // A key that does not exist: the role says which file, and does not start.
        for role in [["router", "--listen", "127.0.0.1:0"], ["controller", "--api", "127.0.0.1:0"], ["agent", "--site", "site1", "--work-dir", work + "/bad"]] {
            let bad = try await ProcessRun.run(Binaries.ecdn, role + ["--store", etcd.url, "--tls-cert", files.certificate, "--tls-key", work + "/missing.pem"])
            #expect(bad.status != 0)
            #expect(bad.error.contains("missing.pem"), "\(role[0]): \(bad.error)")
        }
        let half = try await ProcessRun.run(Binaries.ecdn, ["router", "--store", etcd.url, "--tls-cert", files.certificate])
        #expect(half.status != 0)
        #expect(half.error.contains("--tls-cert needs --tls-key"), "\(half.error)")
    }

    @Test("ecdn controller started without --cache-tls where a controller with it runs: it stops with an error naming that controller and what to do; the running one leads on, one that agrees stands by")
    func controllersThatDisagreeOnCacheTLSAreRefused() async throws {
        let etcd = try await EtcdTestServer.start()
        defer { etcd.destroy() }
        let first = try ECDNProcess(["controller", "--store", etcd.url, "--id", "c1", "--api", "127.0.0.1:0", "--cache-tls"])
        defer { if first.process.isRunning { first.process.terminate() } }
        let api = try await first.value("api")
        #expect(await TestStack.eventually { await ClusterTests.leader(api) == "c1" })

        let second = try ECDNProcess(["controller", "--store", etcd.url, "--id", "c2", "--api", "127.0.0.1:0"])
        let refused = await TestStack.eventually { !second.process.isRunning }
        if refused {
            #expect(second.process.terminationStatus != 0)
        } else {
            Issue.record("c2 still runs: \(second.log)")
            await second.stop()
        }
        #expect(second.log.contains("controller c1 of this cluster places caches with --cache-tls"), "\(second.log)")
        #expect(second.log.contains("give every controller the same --cache-tls"), "\(second.log)")

        let third = try ECDNProcess(["controller", "--store", etcd.url, "--id", "c3", "--api", "127.0.0.1:0", "--cache-tls"])
        defer { if third.process.isRunning { third.process.terminate() } }
        let thirdAPI = try await third.value("api")
        #expect(await TestStack.eventually { await ClusterTests.leader(thirdAPI) == "c1" })
        #expect(third.process.isRunning)
        #expect(await ClusterTests.leader(api) == "c1")
        #expect(first.process.isRunning)
        await third.stop()
        await first.stop()
    }

    static func rolesServe(controller: ECDNProcess, agent: ECDNProcess, router: ECDNProcess, ca: String) async throws {
        let api = try await controller.value("api")
        let routerURL = try await router.value("router")
        #expect(api.hasPrefix("https://"))
        #expect(routerURL.hasPrefix("https://"))

        let client = try HTTPClientForTests(caFile: ca)
        // Until the router's view has the tenants, a viewer gets 404; until it has the agent as a
        // member, the origin ("site lost"); then the first is held until the leader's cache is ready.
        var answer: HTTPClientResponse?
        let joined = await TestStack.eventually {
            answer = try? await client.get(routerURL + "/live/1/index.m3u8", from: "127.0.149.8")
            return answer?.status == 302 && answer?.headers.first(name: "X-ECDN-Origin-Reason") != "site lost"
        }
        #expect(joined, "\(agent.log)")
        let redirect = try #require(answer)
        #expect(redirect.status == 302, "\(router.log)")
        #expect(redirect.headers.first(name: "X-ECDN-Origin-Reason") == nil)
        let location = try #require(redirect.headers.first(name: "Location"))
        #expect(location.hasPrefix("https://127.0.149.10:"), "\(location)\n\(agent.log)")
        let fromCache = try await client.get(location)
        #expect(fromCache.status == 200, "\(agent.log)")
        #expect(String(buffer: fromCache.body).hasPrefix("#EXTM3U"))
        await #expect(throws: ControlError.self) { _ = try await HTTPClientForTests().get(location) }
    }

    /// Stops the caches whose pid files an agent left in `directory`, and waits until they are gone.
    static func stopCaches(in directory: String) async {
        let files = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".pid") } ?? []
        for file in files {
            guard let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8),
                  let pid = pid_t(String(text.prefix { $0.isNumber })) else { continue }
            kill(pid, SIGKILL)
            for _ in 0..<100 where kill(pid, 0) == 0 { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
}
