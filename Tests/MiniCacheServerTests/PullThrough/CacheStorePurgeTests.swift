import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOPosix
import Synchronization
import Testing

@testable import MiniCacheServer

/// `POST /admin/purge` and `minicache ctl purge` against a real server and origin.
struct CacheStorePurgeTests {
    static func origin() async throws -> TestOrigin {
        try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { request, _ in
            let path = request.path
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
            for path in paths { _ = try await TestConnection.get(port: server.port, path) }
            try await PullThroughTests.waitForStored(server, paths.count)
            #expect(origin.requestCount == paths.count)

            let exact = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=/live/1", method: "POST")
            #expect(exact.status == 200)
            #expect(try JSON.decode(AdminAPI.Purged.self, from: exact.body) == AdminAPI.Purged(purged: 1))
            let none = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=/not/cached", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: none.body) == AdminAPI.Purged(purged: 0))
            let prefix = try await TestConnection.get(port: server.adminPort, "/admin/purge?prefix=/live/", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: prefix.body) == AdminAPI.Purged(purged: 2))
            let vod = try await TestConnection.get(port: server.adminPort, "/admin/purge?prefix=%2Fvod%2F", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: vod.body) == AdminAPI.Purged(purged: 1))

            for path in paths { #expect(try await TestConnection.get(port: server.port, path).text == CacheStoreCrashTests.body(path)) }
            // Four were purged and fetched again; /vodka/5 is not under /vod/ and stayed a hit.
            #expect(origin.requestCount == paths.count + 4)

            let status = try await JSON.decode(AdminAPI.Status.self, from: TestConnection.get(port: server.adminPort, "/admin/status").body)
            #expect(status.cacheStore?.eviction == "lru")
            #expect(status.cacheStore?.purged == 4)
            #expect(status.cache?.hits == 1 && status.cache?.misses == 9, "\(status)")
            let bad = try await TestConnection.get(port: server.adminPort, "/admin/purge?prefix=live", method: "POST")
            #expect(bad.status == 400)
        }
        await origin.stop()
    }

    @Test("after a restart, a purge finds what was stored before it, before any new write")
    func purgeAfterRestart() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let paths = ["/live/1", "/live/2", "/vod/3"]
        let change: (inout ServerConfiguration) -> Void = { $0.origin = "http://127.0.0.1:\(origin.port)" }
        try await TestServer.with(volume: volume.path, change) { server in
            for path in paths { _ = try await TestConnection.get(port: server.port, path) }
            try await PullThroughTests.waitForStored(server, paths.count)
        }
        try await TestServer.with(volume: volume.path, change) { server in
            let exact = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=/live/1", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: exact.body) == AdminAPI.Purged(purged: 1))
            let prefix = try await TestConnection.get(port: server.adminPort, "/admin/purge?prefix=/vod/", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: prefix.body) == AdminAPI.Purged(purged: 1))
            for path in paths { #expect(try await TestConnection.get(port: server.port, path).text == CacheStoreCrashTests.body(path)) }
            // The two purged were fetched again; /live/2 stayed a hit across the restart.
            #expect(origin.requestCount == paths.count + 2)
        }
        await origin.stop()
    }

    /// Descriptors of this process open on `path` for writing (the cache store's writer).
    static func writableDescriptors(_ path: String) throws -> Int {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").filter { fd in
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) == real,
                let info = try? String(contentsOfFile: "/proc/self/fdinfo/\(fd)", encoding: .utf8),
                let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }).flatMap({ Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) })
            else { return false }
            return flags & 3 != 0
        }.count
    }

    @Test("after a restart the store knows what it holds before any request, and opens the volume for writing only for the first change")
    func restartKnowsStoredWithoutWriter() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let paths = ["/a/1", "/a/2", "/b/3"]
        let change: (inout ServerConfiguration) -> Void = { $0.origin = "http://127.0.0.1:\(origin.port)" }
        var order: [[UInt8]] = []
        try await TestServer.with(volume: volume.path, change) { server in
            #expect(try Self.writableDescriptors(volume.path) == 0)
            for path in paths { _ = try await TestConnection.get(port: server.port, path) }
            try await PullThroughTests.waitForStored(server, paths.count)
            #expect(try Self.writableDescriptors(volume.path) == 1)
            order = server.server.context.cache!.store.evictionOrder()
        }
        try await TestServer.with(volume: volume.path, change) { server in
            let store = server.server.context.cache!.store
            let status = try await JSON.decode(AdminAPI.Status.self, from: TestConnection.get(port: server.adminPort, "/admin/status").body)
            #expect(status.cacheStore?.objects == paths.count)
            #expect((status.cacheStore?.bytes ?? 0) > 0)
            #expect(store.cachedURLs == paths)
            #expect(store.evictionOrder() == order && order.count == paths.count)
            #expect(try Self.writableDescriptors(volume.path) == 0)
            #expect(try await TestConnection.get(port: server.port, "/a/2").text == CacheStoreCrashTests.body("/a/2"))
            #expect(try Self.writableDescriptors(volume.path) == 0, "a hit needs no writer")

            let purged = try await TestConnection.get(port: server.adminPort, "/admin/purge?prefix=/a/", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: purged.body) == AdminAPI.Purged(purged: 2))
            #expect(try Self.writableDescriptors(volume.path) == 1)
            #expect(store.cachedURLs == ["/b/3"])
            #expect(origin.requestCount == paths.count)
        }
        await origin.stop()
    }

    @Test("purging while serving: every response stays complete and correct")
    func purgeWhileServing() async throws {
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let paths = (0..<12).map { "/p/\($0)" }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let stop = SharedCounter()
            let wrong = WrongAnswers()
            let served = SharedCounter()
            let port = server.port
            let clients = (0..<3).map { worker in
                Task {
                    var i = worker
                    while stop.value == 0 {
                        let path = paths[i % paths.count]
                        if let response = try? await TestConnection.get(port: port, path) {
                            if response.text != CacheStoreCrashTests.body(path) {
                                let got = "\(path): \(response.status) X-Cache \(response.header("X-Cache") ?? "-"), \(response.body.count) bytes: \(response.text.prefix(40))"
                                wrong.list.withLock { $0.append(got) }
                            }
                            served.add()
                        }
                        i += 3
                    }
                }
            }
            for _ in 0..<20 {
                let purge = try await TestConnection.get(port: server.adminPort, "/admin/purge?prefix=/p/", method: "POST")
                #expect(purge.status == 200)
                try await Task.sleep(for: .milliseconds(10))
            }
            stop.set(1)
            for client in clients { await client.value }
            let answers = wrong.list.withLock { $0 }
            #expect(answers.isEmpty, "\(answers)")
            #expect(served.value > 20)
        }
        await origin.stop()
    }

    /// `path` repeated to `size` bytes.
    static func body(_ path: String, size: Int) -> String {
        let text = String(repeating: "\(path)|", count: size / (path.utf8.count + 1))
        return text + String(repeating: "#", count: size - text.utf8.count)
    }

    /// Records an issue saying where `body` differs from `expected` (a whole body is too long to show).
    static func expectBody(_ body: [UInt8], _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let wanted = Array(expected.utf8)
        guard body != wanted else { return }
        let at = zip(body, wanted).prefix { $0 == $1 }.count
        let found = String(decoding: body[at..<min(body.count, at + 24)], as: UTF8.self)
        Issue.record("\(body.count) bytes, \(wanted.count) expected; from byte \(at) on: \(found)...", sourceLocation: sourceLocation)
    }

    @Test("an object prefetched into memory while a viewer streams it from the volume keeps its chunks for that viewer")
    func prefetchedObjectKeepsChunksForStreams() async throws {
        // Far more than the sockets' buffers take from a viewer that does not read (the send
        // buffer grows to 4 MiB here): the stream still reads the volume when /b is stored.
        let size = 12_000_000
        let origin = try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { request, _ in
            [.send(TestOrigin.response(body: Self.body(request.path, size: size), headers: ["Cache-Control: max-age=3600"]))]
        }
        let volume = try TestVolume(sizeMiB: 64)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            let volumes = server.server.context.volumes
            func stored(_ url: String) -> PreparedObject? { volumes.current.objects.first { $0.cached?.response.url == url } }
            #expect(try await TestConnection.get(port: server.port, "/a").text == Self.body("/a", size: size))
            try await PullThroughTests.waitForStored(server, 1)
            let a = try #require(stored("/a"))
            #expect(!a.isInMemory)

            // A viewer starts reading /a from the volume and stops.
            let viewer = try await TestConnection(port: server.port)
            await viewer.send("GET /a HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(await viewer.receiveRaw(max: 0).isEmpty)

            // A full remount keeps every object in memory; then /a is purged and /b fills the cache.
            let prefetch = try await TestConnection.get(port: server.adminPort, "/admin/prefetch", method: "POST")
            #expect(prefetch.status == 200, "\(prefetch.text)")
            #expect(stored("/a")?.isInMemory == true)
            let purge = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=/a", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: purge.body) == AdminAPI.Purged(purged: 1))
            #expect(try await TestConnection.get(port: server.port, "/b").text == Self.body("/b", size: size))
            try await PullThroughTests.waitForStored(server, 2)

            let response = try #require(try await viewer.readResponse())
            Self.expectBody(response.body, Self.body("/a", size: size))
        }
        await origin.stop()
    }

    @Test("a stored body keeps its bytes when its chunks take a new object before the viewer has read it")
    func sentBodySurvivesChunkReuse() async throws {
        // Above the small-object limit (streamed from the volume file), and small enough for the
        // sockets' buffers to take the whole response at once.
        let size = 40_000
        let origin = try await TestOrigin(group: MultiThreadedEventLoopGroup.singleton) { request, _ in
            [.send(TestOrigin.response(body: Self.body(request.path, size: size), headers: ["Cache-Control: max-age=3600"]))]
        }
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        let configure: (inout ServerConfiguration) -> Void = {
            $0.origin = "http://127.0.0.1:\(origin.port)"
            $0.smallObjectLimit = 4096
        }
        try await TestServer.with(volume: volume.path, configure) { server in
            let volumes = server.server.context.volumes
            #expect(try await TestConnection.get(port: server.port, "/a").text == Self.body("/a", size: size))
            try await PullThroughTests.waitForStored(server, 1)
            let a = try #require(volumes.current.objects.first { $0.cached?.response.url == "/a" })
            #expect(!a.isInMemory)

            // A viewer asks for /a and does not read: the response waits in the sockets' buffers.
            let viewer = try await TestConnection(port: server.port)
            await viewer.send("GET /a HTTP/1.1\r\nHost: test\r\n\r\n")
            var handedOver = false
            for _ in 0..<1000 {
                // The stream wrote its last part and let go of its mount.
                handedOver = a.counters.completed >= 1 && volumes.tracker.liveGenerations == [volumes.current.generation]
                if handedOver { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            try #require(handedOver, "the server did not hand the whole body to the socket")

            // /a is purged and /b fills the cache, into the chunks /a had.
            let purge = try await TestConnection.get(port: server.adminPort, "/admin/purge?url=/a", method: "POST")
            #expect(try JSON.decode(AdminAPI.Purged.self, from: purge.body) == AdminAPI.Purged(purged: 1))
            #expect(try await TestConnection.get(port: server.port, "/b").text == Self.body("/b", size: size))
            try await PullThroughTests.waitForStored(server, 2)
            let b = try #require(volumes.current.objects.first { $0.cached?.response.url == "/b" })
            #expect(b.fileOffset == a.fileOffset, "/b did not take the chunks of /a, so the test shows nothing")

            let response = try #require(try await viewer.readResponse())
            #expect(response.header("X-Cache") == "HIT")
            Self.expectBody(response.body, Self.body("/a", size: size))
            await viewer.close()
        }
        await origin.stop()
    }

    @Test("minicache ctl purge PATH and --prefix print the count", .enabled(if: ProcessTests.executable != nil, "needs the minicache executable that swift test builds next to the tests"))
    func ctlPurge() async throws {
        let executable = try #require(ProcessTests.executable)
        let origin = try await Self.origin()
        let volume = try TestVolume(sizeMiB: 16)
        defer { volume.remove() }
        try await TestServer.with(volume: volume.path, { $0.origin = "http://127.0.0.1:\(origin.port)" }) { server in
            for path in ["/a/1", "/a/2", "/b/3"] { _ = try await TestConnection.get(port: server.port, path) }
            try await PullThroughTests.waitForStored(server, 3)
            func ctl(_ arguments: [String]) async throws -> (Int32, String) {
                let run = try await ProcessRun.run(executable, ["ctl", "purge"] + arguments + ["--admin", "127.0.0.1:\(server.adminPort)"])
                return (run.status, run.output + run.error)
            }
            let one = try await ctl(["/b/3"])
            #expect(one.0 == 0 && (try? JSON.decode(AdminAPI.Purged.self, from: Array(one.1.utf8))) == AdminAPI.Purged(purged: 1), "\(one.1)")
            let two = try await ctl(["--prefix", "/a/"])
            #expect(two.0 == 0 && (try? JSON.decode(AdminAPI.Purged.self, from: Array(two.1.utf8))) == AdminAPI.Purged(purged: 2), "\(two.1)")
            let (status, message) = try await ctl([])
            #expect(status != 0)
            #expect(message.contains("--prefix"))
        }
        await origin.stop()
    }
}

/// The wrong answers the clients of a test saw, for its failure message.
private final class WrongAnswers: Sendable {
    let list = Mutex<[String]>([])
}
