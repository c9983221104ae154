import Foundation
import HTTPToolkit
import MiniCacheTesting
import NIOCore
import SHFS
import Testing

@testable import MiniCacheServer

/// Timeouts, limits, links, remounts and the admin API, on real sockets.
@Suite struct OperationsTests {
    @Test("RFC 9112 §9.5: a client sending one byte per 100 ms is cut by the header timeout while others are served")
    func headerTimeout() async throws {
        let volume = TestVolume.shared
        try await TestServer.with(volume: volume.path, { $0.headerTimeout = .milliseconds(500) }) { server in
            let slow = try await TestConnection(port: server.port)
            let request = Array("GET /small.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: slow\r\n\r\n".utf8)
            // The whole head takes ~5 s at this pace, ten times the timeout: the server must cut it
            // before it is complete.
            var sent = 0
            for byte in request.dropLast() {
                guard await slow.send([byte]) else { break }
                sent += 1
                if sent == 4 {
                    // Others are served while the slow client dribbles.
                    #expect(try await TestConnection.get(port: server.port, "/small.bin").status == 200)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(sent < request.count - 1)
            let response = try await slow.readResponse()
            #expect(response == nil || response?.status == 408)
            #expect(await slow.isClosed())
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        try await TestServer.with(volume: TestVolume.shared.path, { $0.idleTimeout = .milliseconds(300) }) { server in
            let connection = try await TestConnection(port: server.port)
            await connection.send("GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await connection.readResponse()?.status == 200)
            try await Task.sleep(for: .milliseconds(900))
            #expect(await connection.isClosed())
        }
    }

    @Test func aClientThatStopsReadingALargeBodyIsCutAfterTheIdleTimeout() async throws {
        let volume = try TestVolume(sizeMiB: 64)
        defer { volume.remove() }
        let large = TestVolume.bytes(32 << 20, seed: 4)
        try volume.add("large.bin", large)
        try await TestServer.with(volume: volume.path, { $0.idleTimeout = .milliseconds(300) }) { server in
            let stalled = try await TestConnection(port: server.port)
            await stalled.send("GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            try await Task.sleep(for: .milliseconds(1500))
            // Others are still served.
            #expect(try await TestConnection.get(port: server.port, "/large.bin", headers: ["Range: bytes=0-9"]).status == 206)
            let received = await stalled.readToEnd()
            #expect(received.count < large.count)
            #expect(await stalled.isClosed())
        }
    }

    @Test func connectionsAboveTheLimitAreRefusedCleanly() async throws {
        try await TestServer.with(volume: TestVolume.shared.path, { $0.maxConnections = 3 }) { server in
            var open: [TestConnection] = []
            for _ in 0..<3 { open.append(try await TestConnection(port: server.port)) }
            for connection in open {
                await connection.send("GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try await connection.readResponse()?.status == 200)
            }
            let extra = try await TestConnection(port: server.port)
            let refused = try #require(try await extra.readResponse())
            #expect(refused.status == 503)
            #expect(refused.header("Connection") == "close")
            #expect(await extra.isClosed())
            for connection in open {
                await connection.send("GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try await connection.readResponse()?.status == 200)
            }
        }
    }

    @Test func servesAThousandConcurrentConnections() async throws {
        try await TestServer.with(volume: TestVolume.shared.path) { server in
            // Each connection sends its request at once, as a client does: a connection that sent
            // nothing for the header timeout (10 s) is closed, and opening a thousand takes longer
            // than that on a busy machine.
            var connections: [TestConnection] = []
            for _ in 0..<1000 {
                let connection = try await TestConnection(port: server.port)
                await connection.send("GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                connections.append(connection)
            }
            var ok = 0
            for connection in connections where try await connection.readResponse()?.body == TestVolume.bytes(1024) {
                ok += 1
            }
            #expect(ok == 1000)
            let status = try await JSON.decode(AdminAPI.Status.self, from: TestConnection.get(port: server.adminPort, "/admin/status").body)
            #expect(status.connections.open == 1000 || status.connections.open == 1001)
        }
    }

    @Test("links: concurrent viewers of a raw link share one upstream fetch and each get the whole stream")
    func linkFanOut() async throws {
        let pieces = (0..<5).map { "segment-\($0)-" + String(repeating: "x", count: 1000) + "\n" }
        let upstream = try await TestOrigin(pieces: pieces, delay: .milliseconds(100))
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try volume.addLink("live", url: "http://127.0.0.1:\(upstream.port)/live/seg.ts", type: .raw)
        try volume.addLink("auto", url: "http://127.0.0.1:\(upstream.port)/live/seg.ts?variant=auto", type: .auto)
        try await TestServer.with(volume: volume.path) { server in
            var viewers: [TestConnection] = []
            for _ in 0..<20 { viewers.append(try await TestConnection(port: server.port)) }
            for viewer in viewers { await viewer.send("GET /live HTTP/1.1\r\nHost: t\r\n\r\n") }
            for viewer in viewers {
                let response = try #require(try await viewer.readResponse())
                #expect(response.status == 200)
                #expect(response.text == pieces.joined())
                #expect(response.header("Content-Type") == "video/mp2t")
            }
            #expect(upstream.requestCount == 1)
            // A later viewer, after the fetch ended, starts a new one.
            let again = try await TestConnection.get(port: server.port, "/auto")
            #expect(again.text == pieces.joined())
            #expect(upstream.requestCount == 2)
        }
        await upstream.stop()
    }

    @Test("links: an unreachable origin gives 502, a silent one 504")
    func linkFailures() async throws {
        let silent = try await TestOrigin { _, _ in [] }
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try volume.addLink("down", url: "http://127.0.0.1:1/x", type: .raw)
        try volume.addLink("silent", url: "http://127.0.0.1:\(silent.port)/x", type: .raw)
        try await TestServer.with(volume: volume.path, { $0.upstreamTimeout = .milliseconds(300) }) { (server: TestServer) async throws in
            #expect(try await TestConnection.get(port: server.port, "/down").status == 502)
            #expect(try await TestConnection.get(port: server.port, "/silent").status == 504)
        }
        await silent.stop()
    }

    @Test("a remount during a large download switches the table while the download completes with its bytes")
    func remountDuringDownload() async throws {
        let volume = try TestVolume(sizeMiB: 64)
        defer { volume.remove() }
        let large = TestVolume.bytes(24 << 20, seed: 9)
        try volume.add("large.bin", large)
        try await TestServer.with(volume: volume.path, { $0.streamChunkSize = 256 * 1024 }) { server in
            let download = try await TestConnection(port: server.port)
            await download.send("GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            var received = await download.receiveRaw(max: 65536)
            #expect(!received.isEmpty)

            try volume.add("new.txt", Array("fresh\n".utf8))
            let remount = try await TestConnection.get(port: server.adminPort, "/admin/remount", method: "POST")
            #expect(remount.status == 200)
            #expect(try JSON.decode(AdminAPI.Remounted.self, from: remount.body).generation == 2)
            #expect(try await TestConnection.get(port: server.port, "/new.txt").text == "fresh\n")

            while received.count < large.count + 200 {
                let more = await download.receiveRaw(max: 1 << 20)
                if more.isEmpty { break }
                received += more
            }
            let headEnd = try #require(TestConnection.find([13, 10, 13, 10], in: Array(received.prefix(1024))))
            #expect(Array(received[(headEnd + 4)...]) == large)
        }
    }

    @Test func theFileWatchRemountsWhenTheVolumeChanges() async throws {
        let volume = try TestVolume(sizeMiB: 4)
        defer { volume.remove() }
        try volume.add("a.txt", Array("a\n".utf8))
        try await TestServer.with(volume: volume.path, { $0.watchInterval = .milliseconds(100) }) { server in
            #expect(try await TestConnection.get(port: server.port, "/b.txt").status == 404)
            try volume.add("b.txt", Array("b\n".utf8))
            var status = 0
            for _ in 0..<50 where status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                status = try await TestConnection.get(port: server.port, "/b.txt").status
            }
            #expect(status == 200)
        }
    }

    @Test("admin: status, per-object statistics with progress counters, Prometheus metrics, prefetch")
    func admin() async throws {
        try await TestServer.with(volume: TestVolume.shared.path) { server in
            _ = try await TestConnection.get(port: server.port, "/small.bin")
            _ = try await TestConnection.get(port: server.port, "/large.bin")
            _ = try await TestConnection.get(port: server.port, "/missing-thing")

            let status = try await TestConnection.get(port: server.adminPort, "/admin/status")
            #expect(status.status == 200)
            #expect(status.header("Content-Type") == "application/json")
            let document = try JSON.decode(AdminAPI.Status.self, from: status.body)
            #expect(document.requests == 3)
            #expect(document.volume.objects > 0)
            #expect(document.bytesSent > 1024)
            #expect(document.cache == nil && document.cacheStore == nil)
            let objects = try await TestConnection.get(port: server.adminPort, "/admin/objects")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(objects.body)) as? [String: Any])
            let list = try #require(json["objects"] as? [[String: Any]])
            let small = try #require(list.first { $0["name"] as? String == "small.bin" })
            #expect(small["hits"] as? Int == 1)
            #expect(small["bytes"] as? Int == 1024)
            #expect(small["completed"] as? Int == 1)
            #expect((small["progress"] as? [String: Int])?["100"] == 1)
            let large = try #require(list.first { $0["name"] as? String == "large.bin" })
            #expect(large["completed"] as? Int == 1)
            #expect((large["progress"] as? [String: Int]) == ["0": 1, "20": 1, "40": 1, "60": 1, "80": 1, "100": 1])
            #expect(large["inMemory"] as? Bool == false)
            let misses = try #require(json["misses"] as? [[String: Any]])
            #expect(misses.contains { $0["key"] as? String == "/missing-thing" })

            let metrics = try await TestConnection.get(port: server.adminPort, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("minicache_requests_total{status=\"2xx\"} 2"))
            #expect(metrics.text.contains("minicache_requests_total{status=\"4xx\"} 1"))

            let prefetch = try await TestConnection.get(port: server.adminPort, "/admin/prefetch?object=large.bin", method: "POST")
            #expect(prefetch.status == 200)
            let after = try await JSON.decode(AdminAPI.Objects.self, from: TestConnection.get(port: server.adminPort, "/admin/objects").body)
            let prefetched = try #require(after.objects.first { $0.name == "large.bin" })
            #expect(prefetched.kind == "object" && prefetched.length == 3145728 && prefetched.inMemory)
            #expect(try await TestConnection.get(port: server.port, "/large.bin").body == TestVolume.bytes(3 << 20, seed: 3))

            #expect(try await TestConnection.get(port: server.adminPort, "/admin/prefetch?object=nothing", method: "POST").status == 409)
            #expect(try await TestConnection.get(port: server.adminPort, "/admin/remount").status == 405)
            #expect(try await TestConnection.get(port: server.adminPort, "/admin/nothing").status == 404)
        }
    }
}
