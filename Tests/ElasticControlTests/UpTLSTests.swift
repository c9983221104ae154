import ElasticControl
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `ecdn up --tls`: the router, the API and every cache serve HTTPS with certificates of a local
/// CA whose file `ca:` names.
struct UpTLSTests {
    static let curl = ["/usr/bin/curl", "/usr/local/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs curl; returns its standard output.
    static func curl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.curl))
        process.arguments = ["-sS", "-m", "10"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test(
        "ecdn up --tls prints https URLs and the CA; viewers are redirected to an HTTPS cache that curl and our client trust",
        .enabled(if: UpTLSTests.curl != nil, "needs curl")
    )
    func upServesHTTPS() async throws {
        let (process, lines) = try UpTests.launch([
            "up", "--tls", "--router-port", "0", "--api-port", "0", "--origin-port", "0", "--first-site-octet", "146", "--sites", "2",
        ])
        defer { process.terminate() }
        let router = try #require(lines["router"])
        let api = try #require(lines["api"])
        let ca = try #require(lines["ca"])
        #expect(router.hasPrefix("https://"))
        #expect(api.hasPrefix("https://"))
        #expect(lines["dashboard"]?.hasPrefix("https://") == true)
        #expect(lines["try"]?.contains("--cacert \(ca)") == true)
        #expect(FileManager.default.fileExists(atPath: ca))

        let client = try HTTPClientForTests(caFile: ca)
        let redirect = try await client.get(router + "/live/1/index.m3u8", from: "127.0.147.8")
        #expect(redirect.status == 302)
        let location = try #require(redirect.headers.first(name: "Location"))
        #expect(location.hasPrefix("https://127.0.147.10:"), "\(location)")

        // curl (OpenSSL) follows the redirect to the cache and checks both certificates.
        let playlist = try Self.curl(["-L", "--cacert", ca, "--interface", "127.0.147.8", router + "/live/1/index.m3u8"])
        #expect(playlist.hasPrefix("#EXTM3U"), "\(playlist.prefix(200))")
        let fromCache = try await client.get(location)
        #expect(fromCache.status == 200)

        let instances = try await client.get(api + "/instances")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(instances.body.readableBytesView)) as? [[String: Any]])
        #expect(array.contains { ($0["url"] as? String)?.hasPrefix("https://127.0.147.") == true })

        // Without the CA the certificate is refused.
        let untrusted = HTTPClientForTests()
        await #expect(throws: ControlError.self) { _ = try await untrusted.get(router + "/live/1/index.m3u8", from: "127.0.147.8") }
    }
}
