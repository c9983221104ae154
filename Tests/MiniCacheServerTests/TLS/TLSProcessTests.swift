import Foundation
import MiniCacheTesting
import Testing

/// `minicache serve --listen-tls` as a child process, checked with curl (OpenSSL and nghttp2): a
/// real client negotiates HTTP/2 and HTTP/1.1 and trusts the local CA.
@Suite struct TLSProcessTests {
    static let curl = ["/usr/bin/curl", "/usr/local/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func run(_ executable: String, _ arguments: [String]) async throws -> ProcessRun {
        try await ProcessRun.run(executable, arguments, mergingErrors: true)
    }

    @Test(
        "minicache serve --listen-tls alone: curl gets objects over h2 and HTTP/1.1 with the CA file, and the ready file has the https URL",
        .enabled(if: ProcessTests.executable != nil && TLSProcessTests.curl != nil, "needs the minicache executable and curl")
    )
    func servesHTTPSToCurl() async throws {
        let executable = try #require(ProcessTests.executable)
        let curl = try #require(Self.curl)
        let fixture = try TLSFixture()
        defer { fixture.remove() }
        let ready = fixture.directory + "/ready"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "serve", TestVolume.shared.path, "--listen-tls", "127.0.0.1:0", "--tls-cert", fixture.main.certificate, "--tls-key",
            fixture.main.key, "--admin", "off", "--ready-file", ready, "--threads", "1",
        ]
        let log = Pipe()
        process.standardError = log
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let url = try #require(try await ProcessTests.waitForFile(ready), "minicache did not write its ready file")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix("https://127.0.0.1:"))
        for version in ["--http2", "--http1.1"] {
            let result = try await Self.run(
                curl, ["-sS", version, "--cacert", fixture.caPath, "-o", "/dev/null", "-w", "%{http_code} %{http_version} %{size_download}", url + "small.bin"])
            let expected = version == "--http2" ? "200 2 1024" : "200 1.1 1024"
            #expect(result.output == expected, "\(version): \(result.output)")
        }
        // Without the CA the certificate is not trusted: curl refuses, nothing falls back to plain.
        let untrusted = try await Self.run(curl, ["-sS", "-o", "/dev/null", url + "small.bin"])
        #expect(untrusted.status != 0)
        #expect(await process.stop() == 0)
    }
}
