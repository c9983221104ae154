import Foundation
import MiniCacheServer
import MiniCacheTesting
import Testing

@testable import MiniCacheServer

/// The admin listener stays on loopback unless it has a token, and then asks every request for it.
@Suite struct AdminTokenTests {
    @Test("an admin listener off loopback without a token is refused at start-up")
    func exposedNeedsAToken() throws {
        let configuration = TestServer.configuration { $0.adminHost = "0.0.0.0" }
        let error = #expect(throws: MiniCacheError.self) {
            _ = try MiniCacheServer(volumePath: TestVolume.shared.path, configuration: configuration)
        }
        #expect(error?.message.contains("--admin-token-file") == true)
        #expect(AdminToken.isLoopback("127.0.0.1") && AdminToken.isLoopback("::1") && !AdminToken.isLoopback("0.0.0.0"))
    }

    @Test("with a token, admin requests without it or with another are answered 401")
    func tokenIsChecked() async throws {
        let token = "s3cr3t-token-0123456789"
        try await TestServer.with(volume: TestVolume.shared.path, { $0.adminToken = token }) { server in
            let missing = try await TestConnection.get(port: server.adminPort, "/admin/status")
            #expect(missing.status == 401)
            #expect(missing.header("WWW-Authenticate") == "Bearer")
            let wrong = try await TestConnection.get(port: server.adminPort, "/admin/status", headers: ["Authorization: Bearer s3cr3t-token-0123456780"])
            #expect(wrong.status == 401)
            let remount = try await TestConnection.get(port: server.adminPort, "/admin/remount", method: "POST")
            #expect(remount.status == 401)
            let right = try await TestConnection.get(port: server.adminPort, "/admin/status", headers: ["Authorization: Bearer \(token)"])
            #expect(right.status == 200)
        }
    }

    @Test("the comparison checks every byte and the length")
    func constantTimeEquality() {
        let expected = Array("abcdefghijklmnop".utf8)
        #expect(AdminToken.constantTimeEquals(expected, expected))
        #expect(!AdminToken.constantTimeEquals(Array("abcdefghijklmnoq".utf8), expected))
        #expect(!AdminToken.constantTimeEquals(Array("abcdefghijklmno".utf8), expected))
        #expect(!AdminToken.constantTimeEquals(expected + [0], expected))
        #expect(!AdminToken.constantTimeEquals([], expected))
        #expect(!AdminToken.authorizes("Basic abcdefghijklmnop", token: "abcdefghijklmnop"))
        #expect(AdminToken.authorizes("Bearer abcdefghijklmnop", token: "abcdefghijklmnop"))
    }

    @Test("a token file that is missing or too short is refused, naming it")
    func tokenFile() throws {
        let directory = NSTemporaryDirectory() + "minicache-token-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let short = directory + "/short"
        try "abc\n".write(toFile: short, atomically: true, encoding: .utf8)
        #expect(throws: MiniCacheError.self) { try AdminToken.read(directory + "/missing") }
        let error = #expect(throws: MiniCacheError.self) { try AdminToken.read(short) }
        #expect(error?.message.contains(short) == true)
        let good = directory + "/good"
        try "  0123456789abcdef0123  \nsecond line\n".write(toFile: good, atomically: true, encoding: .utf8)
        #expect(try AdminToken.read(good) == "0123456789abcdef0123")
    }
}
