import ElasticControl
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `ecdn up` as a user runs it: a real child process with its own minicache children.
struct UpTests {
    /// Child processes of `pid` (all threads).
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task -> [Int32] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !stat.contains(") Z ")
    }

    @Test func upPrintsItsURLsServesViewersAndSIGTERMStopsEveryChild() async throws {
        let up = try await UpProcess([
            "up", "--router-port", "0", "--api-port", "0", "--origin-port", "0", "--first-site-octet", "141", "--sites", "2",
            // The first viewer waits for its new cache; 10 s and 60 s are safety margins for a loaded machine.
            "--router-wait", "10", "--ready-timeout", "60",
        ])
        let process = up.process
        let lines = up.lines
        let router = try #require(lines["router"])
        let api = try #require(lines["api"])
        #expect(router.hasPrefix("http://"))
        #expect(lines["dashboard"]?.hasPrefix("http://") == true)
        #expect(lines["origin"]?.hasPrefix("http://") == true)

        let client = HTTPClientForTests()
        let redirect = try await client.get(router + "/live/1/index.m3u8", from: "127.0.142.8")
        #expect(redirect.status == 302)
        #expect(redirect.headers.first(name: "Location")?.hasPrefix("http://127.0.142.10:") == true)

        let instances = try await client.get(api + "/instances")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(instances.body.readableBytesView)) as? [[String: Any]])
        let instance = try #require(array.first)
        for key in ["id", "site", "tenant", "state", "url"] { #expect(instance[key] != nil) }
        #expect(instance["site"] as? String == "site2")
        #expect(instance["state"] as? String == "ready")

        let dashboard = try await client.get(try #require(lines["dashboard"]))
        #expect(dashboard.status == 200)
        #expect(String(buffer: dashboard.body).contains("<title>ecdn dashboard</title>"))

        let children = Self.children(of: process.processIdentifier)
        #expect(!children.isEmpty)
        process.terminate()
        let exited = await TestStack.eventually { !process.isRunning }
        #expect(exited)
        #expect(children.allSatisfy { !Self.alive($0) })
    }
}
