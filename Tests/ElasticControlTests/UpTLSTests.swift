@testable import ElasticControl
import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import Testing

/// `ecdn up --tls`: the router, the API, the demo origin and every cache serve HTTPS with
/// certificates of a local CA whose file `ca:` names.
struct UpTLSTests {
    static let curl = ["/usr/bin/curl", "/usr/local/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(
        "ecdn up --tls prints https URLs and the CA; viewers are redirected to an HTTPS cache filled from the HTTPS origin, which curl and our client trust",
        .enabled(if: UpTLSTests.curl != nil, "needs curl")
    )
    func upServesHTTPS() async throws {
        let up = try await UpProcess([
            "up", "--tls", "--router-port", "0", "--api-port", "0", "--origin-port", "0", "--first-site-octet", "146", "--sites", "2", "--router-wait", "10",
            "--ready-timeout", "60",
        ])
        do {
            try await Self.servesHTTPS(up.lines)
        } catch {
            await up.process.stop()
            throw error
        }
        // Waited for, so the caches are gone before a next run binds their addresses.
        await up.process.stop()
    }

    /// The router, API and CA lines of an `ecdn up --tls` start, after checking that every URL
    /// line says `https://`.
    static func httpsLines(_ lines: [String: String]) throws -> (router: String, api: String, ca: String) {
        let router = try #require(lines["router"])
        let api = try #require(lines["api"])
        let ca = try #require(lines["ca"])
        #expect(router.hasPrefix("https://"))
        #expect(api.hasPrefix("https://"))
        #expect(lines["dashboard"]?.hasPrefix("https://") == true)
        #expect(lines["origin"]?.hasPrefix("https://") == true)
        return (router, api, ca)
    }

    static func servesHTTPS(_ lines: [String: String]) async throws {
        let (router, api, ca) = try httpsLines(lines)
        #expect(lines["try"]?.contains("--cacert \(ca) ") == true)
        #expect(FileManager.default.fileExists(atPath: ca))

        let client = try HTTPClientForTests(caFile: ca)
        let redirect = try await client.get(router + "/live/1/index.m3u8", from: "127.0.147.8")
        #expect(redirect.status == 302)
        let location = try #require(redirect.headers.first(name: "Location"))
        #expect(location.hasPrefix("https://127.0.147.10:"), "\(location)")

        // curl (OpenSSL) follows the redirect to the cache and checks both certificates; the cache
        // fetched the playlist from the demo origin over TLS (checked against the same CA).
        let curl = try await ProcessRun.run(try #require(UpTLSTests.curl), ["-sS", "-m", "10", "-L", "--cacert", ca, "--interface", "127.0.147.8", router + "/live/1/index.m3u8"])
        #expect(curl.status == 0, "\(curl.error)")
        #expect(curl.output.hasPrefix("#EXTM3U"), "\(curl.output.prefix(200))")
        let fromCache = try await client.get(location)
        #expect(fromCache.status == 200)
        #expect(String(buffer: fromCache.body).hasPrefix("#EXTM3U"))

        let instances = try await client.get(api + "/instances")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(instances.body.readableBytesView)) as? [[String: Any]])
        #expect(array.contains { ($0["url"] as? String)?.hasPrefix("https://127.0.147.") == true })
        let dashboard = try await client.get(try #require(lines["dashboard"]))
        #expect(dashboard.status == 200)

        // Without the CA, the router's certificate is refused; curl refuses it too.
        let untrusted = HTTPClientForTests()
        await #expect(throws: ControlError.self) { _ = try await untrusted.get(router + "/live/1/index.m3u8", from: "127.0.147.8") }
        let refused = try await ProcessRun.run(try #require(UpTLSTests.curl), ["-sS", "-m", "10", router + "/live/1/index.m3u8"])
        #expect(refused.status == 60, "curl exit \(refused.status): \(refused.error)")
    }

    @Test("ecdn up --tls refuses the backends that cannot serve HTTPS, saying what to drop (with --store too)")
    func upRefusesWhatCannotServeHTTPS() async throws {
        let sandbox = try await ProcessRun.run(Binaries.ecdn, ["up", "--tls", "--backend", "sandbox"])
        #expect(sandbox.status != 0)
        #expect(sandbox.error.contains("--tls serves HTTPS caches on the process backend only"), "\(sandbox.error)")
        let store = try await ProcessRun.run(Binaries.ecdn, ["up", "--tls", "--store", "etcd://127.0.0.1:2379", "--site-backend", "site1=sandbox"])
        #expect(store.status != 0)
        #expect(store.error.contains("--tls serves HTTPS caches on the process backend only"), "\(store.error)")
    }

    @Test("a TLS instance is started with --listen-tls and its certificate; a detached instance's spec file keeps it")
    func processBackendArguments() throws {
        let files = TLSFiles(certificate: "/c.pem", key: "/k.pem", ca: "/ca.pem")
        var spec = InstanceSpec(id: "s-t-1", site: "s", tenant: "t", address: "127.0.9.10", port: 18080, adminPort: 18081, origin: "https://o:8443", tls: true)
        let configuration = ProcessBackendConfiguration(minicachePath: "/bin/false", workDirectory: "/tmp", tls: files, originCA: "/ca.pem")
        #expect(
            try ProcessBackend.listenArguments(spec, configuration: configuration)
                == ["--listen-tls", "127.0.9.10:18080", "--tls-cert", "/c.pem", "--tls-key", "/k.pem", "--origin-ca", "/ca.pem"])
        #expect(spec.url == "https://127.0.9.10:18080")
        #expect(InstanceSpecFile(line: InstanceSpecFile(spec: spec).line)?.spec == spec)
        #expect(throws: ControlError.self) {
            try ProcessBackend.listenArguments(spec, configuration: ProcessBackendConfiguration(minicachePath: "/bin/false", workDirectory: "/tmp"))
        }
        spec.tls = false
        #expect(try ProcessBackend.listenArguments(spec, configuration: ProcessBackendConfiguration(minicachePath: "/bin/false", workDirectory: "/tmp")) == ["--listen", "127.0.9.10:18080"])
        // A spec file written before the TLS field reads as plain.
        let old = InstanceSpecFile(line: "s-t-1\ts\tt\t127.0.9.10\t18080\t18081\thttp://o:80\n")
        #expect(old?.spec.tls == false)
    }
}
