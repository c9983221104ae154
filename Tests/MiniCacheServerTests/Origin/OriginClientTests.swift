import HTTPToolkit
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

struct OriginClientTests {
    let group = MultiThreadedEventLoopGroup.singleton

    func withOrigin(
        configuration: OriginClientConfiguration = OriginClientConfiguration(),
        script: @escaping @Sendable (TestOrigin.Request, Int) -> [TestOrigin.Action],
        _ body: (TestOrigin, OriginClient, OriginAddress) async throws -> Void
    ) async throws {
        let origin = try await TestOrigin(group: group, script: script)
        let client = OriginClient(group: group, configuration: configuration)
        do {
            try await body(origin, client, OriginAddress(host: "127.0.0.1", port: origin.port))
        } catch {
            client.shutdown()
            await origin.stop()
            throw error
        }
        client.shutdown()
        await origin.stop()
    }

    @Test("a GET returns the origin's head and body, with Host added")
    func simpleGet() async throws {
        try await withOrigin(script: { _, _ in [.send(TestOrigin.response(body: "hello", headers: ["ETag: \"x\""]))] }) {
            origin, client, address in
            let response = try await client.fetch(OriginRequest(target: "/a?b=1"), from: address)
            #expect(response.head.status == .ok)
            #expect(response.head.headers["etag"] == [#""x""#])
            #expect(String(buffer: response.body) == "hello")
            #expect(origin.requests.first?.hasPrefix("GET /a?b=1 HTTP/1.1\r\n") == true)
            #expect(origin.requests.first?.contains("Host: 127.0.0.1:\(origin.port)") == true)
        }
    }

    @Test("keep-alive connections are pooled and reused for sequential requests")
    func poolReuse() async throws {
        try await withOrigin(script: { _, i in [.send(TestOrigin.response(body: "r\(i)"))] }) { origin, client, address in
            for i in 0..<5 {
                let response = try await client.fetch(OriginRequest(target: "/\(i)"), from: address)
                #expect(String(buffer: response.body) == "r\(i)")
            }
            #expect(origin.connectionCount == 1)
            #expect(client.connectionsOpened == 1)
            #expect(origin.requestCount == 5)
            #expect(client.idleConnectionCount(to: address) == 1)
        }
    }

    @Test("a pooled connection idle for idleBufferRelease keeps one receive buffer (one read per wake-up); one reused sooner keeps its four")
    func idleConnectionDropsSpareReceiveBuffers() async throws {
        let body = String(repeating: "x", count: 1 << 20)
        let script: @Sendable (TestOrigin.Request, Int) -> [TestOrigin.Action] = { _, _ in [.send(TestOrigin.response(body: body))] }
        try await withOrigin(configuration: OriginClientConfiguration(idleBufferRelease: .hours(1)), script: script) { _, client, address in
            _ = try await client.fetch(OriginRequest(target: "/large"), from: address)
            let idle = client.idleChannels(to: address)
            #expect(idle.count == 1)
            for channel in idle { #expect(try await channel.getOption(.maxMessagesPerRead).get() == 4) }
        }
        try await withOrigin(configuration: OriginClientConfiguration(idleBufferRelease: .milliseconds(20)), script: script) { origin, client, address in
            for _ in 0..<2 {
                let response = try await client.fetch(OriginRequest(target: "/large"), from: address)
                #expect(response.body.readableBytes == body.utf8.count)
                let idle = client.idleChannels(to: address)
                #expect(idle.count == 1)
                for channel in idle {
                    // Safety margin only: the release is due 20 ms after the connection went idle.
                    let deadline = ContinuousClock.now + .seconds(30)
                    while try await channel.getOption(.maxMessagesPerRead).get() != 1, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    #expect(try await channel.getOption(.maxMessagesPerRead).get() == 1)
                }
            }
            #expect(origin.connectionCount == 1)
        }
    }

    @Test("concurrent requests open separate connections and all return to the pool")
    func concurrentRequests() async throws {
        let gate = Gate()
        try await withOrigin(script: { _, _ in [.waitFor(gate), .send(TestOrigin.response(body: "ok"))] }) { origin, client, address in
            try await withThrowingTaskGroup(of: String.self) { tasks in
                for i in 0..<4 {
                    tasks.addTask { String(buffer: try await client.fetch(OriginRequest(target: "/\(i)"), from: address).body) }
                }
                while origin.requestCount < 4 { try await Task.sleep(for: .milliseconds(5)) }
                gate.open()
                for try await body in tasks { #expect(body == "ok") }
            }
            #expect(origin.connectionCount == 4)
            #expect(client.idleConnectionCount(to: address) == 4)
        }
    }

    @Test("RFC 9112 §9.6: Connection: close responses are not reused")
    func connectionClose() async throws {
        try await withOrigin(script: { _, _ in [.send(TestOrigin.response(body: "x", headers: ["Connection: close"])), .close] }) {
            origin, client, address in
            _ = try await client.fetch(OriginRequest(target: "/"), from: address)
            _ = try await client.fetch(OriginRequest(target: "/"), from: address)
            #expect(origin.connectionCount == 2)
        }
    }

    @Test("a pooled connection the origin closed meanwhile is replaced transparently for an idempotent request")
    func staleConnectionRetry() async throws {
        try await withOrigin(script: { _, _ in [.send(TestOrigin.response(body: "x")), .wait(.milliseconds(20)), .close] }) {
            origin, client, address in
            _ = try await client.fetch(OriginRequest(target: "/"), from: address)
            try await Task.sleep(for: .milliseconds(100))
            let second = try await client.fetch(OriginRequest(target: "/"), from: address)
            #expect(String(buffer: second.body) == "x")
            #expect(origin.connectionCount == 2)
        }
    }

    @Test("an origin 5xx is a response, not an error")
    func serverError() async throws {
        try await withOrigin(script: { _, _ in [.send(TestOrigin.response("503 Service Unavailable", body: "down"))] }) { _, client, address in
            let response = try await client.fetch(OriginRequest(target: "/"), from: address)
            #expect(response.head.status == .serviceUnavailable)
            #expect(String(buffer: response.body) == "down")
        }
    }

    @Test("the read timeout fires when the origin goes silent, before or during the body")
    func readTimeout() async throws {
        let configuration = OriginClientConfiguration(readTimeout: .milliseconds(200))
        try await withOrigin(configuration: configuration, script: { request, _ in
            request.hasPrefix("GET /silent") ? [] : [.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")]
        }) { _, client, address in
            await #expect(throws: OriginError.self) { try await client.fetch(OriginRequest(target: "/silent"), from: address) }
            do throws(OriginError) {
                _ = try await client.fetch(OriginRequest(target: "/silent"), from: address)
            } catch {
                #expect(error.code == .readTimeout)
                #expect(error.isTimeout)
            }
            let delegate = RecordingDelegate()
            client.execute(OriginRequest(target: "/stall"), to: address, delegate: delegate)
            let record = await delegate.end()
            #expect(record.head?.status == .ok)
            #expect(record.body == Array("abc".utf8))
            #expect(!record.finished)
            #expect(record.error?.code == .readTimeout)
        }
    }

    @Test("the read timeout counts from the origin's last bytes: a body whose parts take longer in all than the timeout, each sooner, completes")
    func readTimeoutRestartsWithEachPart() async throws {
        let configuration = OriginClientConfiguration(readTimeout: .seconds(1))
        let gates = (0..<6).map { _ in Gate() }
        try await withOrigin(configuration: configuration, script: { _, _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\na")] + gates.enumerated().flatMap { index, gate in
                [TestOrigin.Action.waitFor(gate), .send(String(UnicodeScalar(UInt8(ascii: "b") + UInt8(index))))]
            }
        }) { _, client, address in
            let delegate = RecordingDelegate()
            client.execute(OriginRequest(target: "/slow"), to: address, delegate: delegate)
            // 6 gaps of 0.3 s and more: 1.8 s in all, longer than the timeout, each gap well under it.
            for (index, gate) in gates.enumerated() {
                #expect(try await delegate.wait { $0.body.count == index + 1 })
                try await Task.sleep(for: .milliseconds(300))
                gate.open()
            }
            let record = await delegate.end()
            #expect(record.error == nil)
            #expect(record.finished)
            #expect(String(decoding: record.body, as: UTF8.self) == "abcdefg")
        }
    }

    @Test("a connection reset mid-body is reported as a truncated body, never as complete")
    func truncatedContentLength() async throws {
        try await withOrigin(script: { _, _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "a", count: 100)), .close] }) {
            _, client, address in
            let delegate = RecordingDelegate()
            client.execute(OriginRequest(target: "/"), to: address, delegate: delegate)
            let record = await delegate.end()
            #expect(record.head?.status == .ok)
            #expect(record.body.count == 100)
            #expect(!record.finished)
            #expect(record.error?.code == .truncatedBody)
            #expect(record.ends == 1)
            #expect(!record.outOfOrder)
        }
    }

    @Test("RFC 9112 §7.1: a chunked body without its last chunk is truncated; a complete one finishes")
    func truncatedChunked() async throws {
        try await withOrigin(script: { request, _ in
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            return request.hasPrefix("GET /cut")
                ? [.send(head + "5\r\nhello\r\n"), .wait(.milliseconds(20)), .close]
                : [.send(head + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")]
        }) { _, client, address in
            let complete = try await client.fetch(OriginRequest(target: "/whole"), from: address)
            #expect(String(buffer: complete.body) == "hello world")
            let delegate = RecordingDelegate()
            client.execute(OriginRequest(target: "/cut"), to: address, delegate: delegate)
            let record = await delegate.end()
            #expect(record.body == Array("hello".utf8))
            #expect(!record.finished)
            #expect(record.error?.code == .truncatedBody)
        }
    }

    @Test("a close before any response byte is a connection reset; garbage is a bad response")
    func resetAndGarbage() async throws {
        try await withOrigin(script: { request, _ in
            request.hasPrefix("GET /close") ? [.close] : [.send("SMTP READY\r\n\r\n"), .close]
        }) { _, client, address in
            do throws(OriginError) {
                _ = try await client.fetch(OriginRequest(target: "/close"), from: address)
                Issue.record("expected a failure")
            } catch {
                #expect(error.code == .connectionReset)
            }
            do throws(OriginError) {
                _ = try await client.fetch(OriginRequest(target: "/garbage"), from: address)
                Issue.record("expected a failure")
            } catch {
                #expect(error.code == .badResponse)
            }
        }
    }

    @Test("a refused connection fails with connectFailed")
    func connectRefused() async throws {
        // Port 1 is privileged, so no test listens there; a freed ephemeral port could be reused
        // by another test running in parallel.
        let port = 1
        let client = OriginClient(group: group)
        defer { client.shutdown() }
        do throws(OriginError) {
            _ = try await client.fetch(OriginRequest(target: "/"), from: OriginAddress(host: "127.0.0.1", port: port))
            Issue.record("expected a failure")
        } catch {
            #expect(error.code == .connectFailed)
            #expect(!error.isTimeout)
        }
    }

    @Test("the response head and first bytes reach the delegate before the body is complete")
    func streaming() async throws {
        let gate = Gate()
        try await withOrigin(script: { _, _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst"), .waitFor(gate), .send("-last")]
        }) { _, client, address in
            let delegate = RecordingDelegate()
            client.execute(OriginRequest(target: "/"), to: address, delegate: delegate)
            let arrived = try await delegate.wait { $0.body.count == 5 }
            #expect(arrived)
            #expect(delegate.record.head?.status == .ok)
            #expect(!delegate.record.finished)
            gate.open()
            let record = await delegate.end()
            #expect(record.finished)
            #expect(record.body == Array("first-last".utf8))
        }
    }

    @Test("a cancelled request fails with cancelled and its connection is not reused")
    func cancel() async throws {
        let gate = Gate()
        try await withOrigin(script: { _, _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"), .waitFor(gate)] }) {
            origin, client, address in
            let delegate = RecordingDelegate()
            let task = client.execute(OriginRequest(target: "/"), to: address, delegate: delegate)
            let arrived = try await delegate.wait { $0.body.count == 2 }
            #expect(arrived)
            task.cancel()
            let record = await delegate.end()
            #expect(record.error?.code == .cancelled)
            #expect(client.idleConnectionCount(to: address) == 0)
            gate.open()
        }
    }

    @Test("a POST body is sent with its Content-Length")
    func postBody() async throws {
        try await withOrigin(script: { _, _ in [.send(TestOrigin.response("201 Created", body: ""))] }) { origin, client, address in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/upload")
            head.headers.add(name: "Content-Type", value: "text/plain")
            let response = try await client.fetch(OriginRequest(head: head, body: ByteBuffer(string: "payload")), from: address)
            #expect(response.head.status == .created)
            #expect(origin.requests.first?.contains("Content-Length: 7") == true)
        }
    }

    @Test("the connect timeout fires when the origin does not complete the handshake")
    func connectTimeout() async throws {
        // A listener that never accepts: once its backlog is full, the kernel drops new SYNs.
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1)
            .serverChannelOption(.autoRead, value: false)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = listener.localAddress!.port!
        var fillers: [any Channel] = []
        for _ in 0..<4 {
            if let channel = try? await ClientBootstrap(group: group).connectTimeout(.milliseconds(200))
                .connect(host: "127.0.0.1", port: port).get()
            {
                fillers.append(channel)
            }
        }
        let client = OriginClient(group: group, configuration: OriginClientConfiguration(connectTimeout: .milliseconds(300)))
        do throws(OriginError) {
            _ = try await client.fetch(OriginRequest(target: "/"), from: OriginAddress(host: "127.0.0.1", port: port))
            Issue.record("expected a connect timeout")
        } catch {
            #expect(error.code == .connectTimeout)
            #expect(error.isTimeout)
        }
        client.shutdown()
        for channel in fillers { try? await channel.close() }
        try await listener.close()
    }

    @Test("RFC 9112 §6.3: a body delimited by the connection close is complete at the close, and not pooled")
    func closeDelimited() async throws {
        try await withOrigin(script: { _, _ in [.send("HTTP/1.0 200 OK\r\n\r\nuntil the end"), .close] }) { _, client, address in
            let response = try await client.fetch(OriginRequest(target: "/"), from: address)
            #expect(String(buffer: response.body) == "until the end")
            try await Task.sleep(for: .milliseconds(20))
            #expect(client.idleConnectionCount(to: address) == 0)
        }
    }

    @Test("RFC 9110 §9.3.2: a HEAD response has no body despite its Content-Length, and the connection is reused")
    func head() async throws {
        try await withOrigin(script: { request, _ in
            request.hasPrefix("HEAD") ? [.send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")] : [.send(TestOrigin.response(body: "get"))]
        }) { origin, client, address in
            let head = try await client.fetch(OriginRequest(method: .HEAD, target: "/"), from: address)
            #expect(head.head.headers["content-length"] == ["1234"])
            #expect(head.body.readableBytes == 0)
            let get = try await client.fetch(OriginRequest(target: "/"), from: address)
            #expect(String(buffer: get.body) == "get")
            #expect(origin.connectionCount == 1)
        }
    }

    @Test("pausing the reads holds the origin back through TCP; resuming completes the body")
    func backpressure() async throws {
        let size = 32 << 20
        let first = String(repeating: "b", count: 1024)
        let rest = String(repeating: "b", count: size - 1024)
        let gate = Gate()
        // The bulk follows only once the reads are paused, however busy the machine is.
        try await withOrigin(script: { _, _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\n\r\n" + first), .waitFor(gate), .send(rest)]
        }) {
            _, client, address in
            let delegate = RecordingDelegate()
            let task = client.execute(OriginRequest(target: "/big"), to: address, delegate: delegate)
            let started = try await delegate.wait { !$0.body.isEmpty }
            #expect(started)
            try await #require(task.pauseReading()).get()
            gate.open()
            // While paused the client takes at most what the sockets' buffers and one read hold,
            // far less than the body, however long it waits.
            try await Task.sleep(for: .milliseconds(600))
            let heldAt = delegate.record.body.count
            #expect(heldAt < size / 2, "took \(heldAt) of \(size) bytes while paused")
            #expect(delegate.record.ends == 0)
            task.resumeReading()
            let record = await delegate.end()
            #expect(record.finished)
            #expect(record.body.count == size)
        }
    }
}
