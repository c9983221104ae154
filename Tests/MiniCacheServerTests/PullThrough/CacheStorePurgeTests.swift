import Foundation
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// `POST /admin/purge` and `minicache ctl purge` against a real server and origin.
struct CacheStorePurgeTests {
    static func origin() async throws -> TestOrigin {
        try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { request, _ in
            let path = String(request.split(separator: " ").dropFirst().first ?? "/")
            return [.send(TestOrigin.response(body: CacheStoreCrashTests.body(path), headers: ["Cache-Control: max-age=3600"]))]
        }
    }

    @Test("purge by exact URL and by prefix answers the count; purged URLs are fetched again, others stay hits")
    func purgeByURLAndPrefix() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let paths = ["/live/1", "/live/2", "/live/3?q=1", "/vod/4", "/vodka/5"]
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for path in paths { _ = try TestConnection.get(port: server.port, path) }
            try await PullThroughTests.waitForStored(server, paths.count)
            #expect(origin.requestCount == paths.count)

            let exact = try TestConnection.get(port: server.adminPort, "/admin/purge?url=/live/1", method: "POST")
            #expect(exact.status == 200)
            #expect(exact.text == "{\"purged\": 1}\n")
            let none = try TestConnection.get(port: server.adminPort, "/admin/purge?url=/not/cached", method: "POST")
            #expect(none.text == "{\"purged\": 0}\n")
            let prefix = try TestConnection.get(port: server.adminPort, "/admin/purge?prefix=/live/", method: "POST")
            #expect(prefix.text == "{\"purged\": 2}\n")
            let vod = try TestConnection.get(port: server.adminPort, "/admin/purge?prefix=%2Fvod%2F", method: "POST")
            #expect(vod.text == "{\"purged\": 1}\n")

            for path in paths { #expect(try TestConnection.get(port: server.port, path).text == CacheStoreCrashTests.body(path)) }
            // Four were purged and fetched again; /vodka/5 is not under /vod/ and stayed a hit.
            #expect(origin.requestCount == paths.count + 4)

            let status = try TestConnection.get(port: server.adminPort, "/admin/status")
            #expect(status.text.contains("\"cacheStore\": {\"eviction\": \"lru\""))
            #expect(status.text.contains("\"purged\": 4"))
            #expect(status.text.contains("\"cache\": {\"hits\": 1, \"misses\": 9,"), "\(status.text)")
            let bad = try TestConnection.get(port: server.adminPort, "/admin/purge?prefix=live", method: "POST")
            #expect(bad.status == 400)
        }
        try await origin.stop()
    }

    @Test("purging while serving: every response stays complete and correct")
    func purgeWhileServing() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let paths = (0..<12).map { "/p/\($0)" }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let stop = Atomic<Bool>(false)
            let wrong = Atomic<Int>(0)
            let served = Atomic<Int>(0)
            let port = server.port
            let clients = (0..<3).map { worker in
                Thread {
                    var i = worker
                    while !stop.load(ordering: .relaxed) {
                        let path = paths[i % paths.count]
                        if let response = try? TestConnection.get(port: port, path) {
                            if response.text != CacheStoreCrashTests.body(path) { wrong.add(1, ordering: .relaxed) }
                            served.add(1, ordering: .relaxed)
                        }
                        i += 3
                    }
                }
            }
            for client in clients { client.start() }
            for _ in 0..<20 {
                let purge = try TestConnection.get(port: server.adminPort, "/admin/purge?prefix=/p/", method: "POST")
                #expect(purge.status == 200)
                try await Task.sleep(for: .milliseconds(10))
            }
            stop.store(true, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(100))
            #expect(wrong.load(ordering: .relaxed) == 0)
            #expect(served.load(ordering: .relaxed) > 20)
        }
        try await origin.stop()
    }

    @Test("minicache ctl purge PATH and --prefix print the count", .enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func ctlPurge() async throws {
        let executable = try #require(ProcessTests.executable)
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for path in ["/a/1", "/a/2", "/b/3"] { _ = try TestConnection.get(port: server.port, path) }
            try await PullThroughTests.waitForStored(server, 3)
            func ctl(_ arguments: [String]) throws -> (Int32, String) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["ctl", "purge"] + arguments + ["--admin", "127.0.0.1:\(server.adminPort)"]
                // One pipe each: Process closes the parent's write ends, and one shared pipe would be closed twice.
                let output = Pipe()
                let errors = Pipe()
                process.standardOutput = output
                process.standardError = errors
                try process.run()
                process.waitUntilExit()
                let text = output.fileHandleForReading.readDataToEndOfFile() + errors.fileHandleForReading.readDataToEndOfFile()
                return (process.terminationStatus, String(decoding: text, as: UTF8.self))
            }
            #expect(try ctl(["/b/3"]) == (0, "{\"purged\": 1}\n"))
            #expect(try ctl(["--prefix", "/a/"]) == (0, "{\"purged\": 2}\n"))
            let (status, message) = try ctl([])
            #expect(status != 0)
            #expect(message.contains("--prefix"))
        }
        try await origin.stop()
    }
}
