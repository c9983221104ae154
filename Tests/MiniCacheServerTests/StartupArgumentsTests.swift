import ArgumentParser
import Foundation
import MiniCacheTesting
import Testing

@testable import minicache

/// `minicache serve` arguments take a quick path past ArgumentParser at start-up; it must build
/// exactly the `Serve` ArgumentParser builds, and leave everything else to ArgumentParser.
@Suite struct StartupArgumentsTests {
    static let wellFormed: [[String]] = [
        ["vol.shfs"],
        [
            "vol.shfs", "--listen", "127.0.0.1:0", "--threads", "3", "--max-connections", "7", "--idle-timeout", "1.5",
            "--header-timeout", "2", "--admin", "off", "--ready-file", "/tmp/ready", "--access-log", "--large-objects",
            "read", "--small-object-limit", "4096", "--origin", "http://127.0.0.1:81", "--max-stored-object", "123",
            "--log-level", "warning", "--eviction", "s3fifo", "--memory-budget", "1000", "--surrogate-control",
        ],
        ["vol.shfs", "--origins", "/etc/minicache/origins.conf", "--eviction=sieve"],
        ["vol.shfs", "--origin", "https://origin.example", "--origin-ca", "/etc/minicache/origin-ca.pem"],
        ["--listen=[::1]:8080", "--admin=127.0.0.1:0", "/srv/a b.shfs", "--access-log", "--threads=+2", "--idle-timeout=1e1"],
        ["--log-level", "trace", "x"],
        [
            "vol.shfs", "--listen-tls", "127.0.0.1:0", "--tls-cert", "/etc/a.pem", "--tls-key", "/etc/a-key.pem", "--tls-unknown-name",
            "reject", "--tls-min-version", "1.3", "--h2-max-streams", "50", "--tls-ticket-rotation", "3600",
        ],
        ["help"],
    ]

    /// Every stored property of `command` as ArgumentParser describes it (a property that was never
    /// set reads `Option(*definition*)`).
    static func settings(_ command: Serve) -> [String: String] {
        Dictionary(uniqueKeysWithValues: Mirror(reflecting: command).children.map { ($0.label ?? "?", String(describing: $0.value)) })
    }

    @Test("the quick path and ArgumentParser build the same Serve", arguments: wellFormed)
    func sameConfiguration(arguments: [String]) throws {
        let quick = try #require(Serve.quickParse(arguments), "the quick path refused \(arguments)")
        let parsed = try #require(try Minicache.parseAsRoot(["serve"] + arguments) as? Serve)
        let quickSettings = Self.settings(quick)
        #expect(quickSettings == Self.settings(parsed))
        #expect(!quickSettings.values.contains { $0.contains("*definition*") }, "\(quickSettings)")
    }

    @Test(
        "help, errors and unusual spellings are left to ArgumentParser",
        arguments: [
            [], ["--help"], ["vol", "-h"], ["vol", "-listen", "x"], ["a", "b"], ["--", "vol"], ["vol", "--bogus", "1"], ["vol", "--listen"],
            ["vol", "--listen", "--threads", "2"], ["vol", "--threads", "x"], ["vol", "--threads", "0"],
            ["vol", "--threads", "1", "--threads", "2"], ["vol", "--access-log=true"], ["vol", "--listen", "nocolon"],
            ["vol", "--large-objects", "mmap"], ["vol", "--listen-tls", "127.0.0.1:0"], ["vol", "--tls-cert", "a.pem", "--tls-key", "k.pem"],
            ["vol", "--listen-tls", "127.0.0.1:0", "--tls-cert", "a", "--tls-key", "b", "--tls-cert", "c", "--tls-key", "d"], ["vol", "--log-level", "loud"], ["vol", "--idle-timeout", "-1"],
        ]
    )
    func fallsBack(arguments: [String]) {
        #expect(Serve.quickParse(arguments) == nil)
    }

    @Test("the real binary still answers help and argument errors through ArgumentParser", .enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func helpAndErrorsFromTheBinary() async throws {
        let executable = try #require(ProcessTests.executable)
        func run(_ arguments: [String]) async throws -> ProcessRun { try await ProcessRun.run(executable, arguments, mergingErrors: true) }
        let help = try await run(["serve", "--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("--max-connections"))
        let invalid = try await run(["serve", "vol.shfs", "--threads", "0"])
        #expect(invalid.status == 64)
        #expect(invalid.output.contains("--threads must be at least 1"))
        let missing = try await run(["serve", "/nonexistent/volume.shfs", "--admin", "off", "--listen", "127.0.0.1:0"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("/nonexistent/volume.shfs"))
    }
}
