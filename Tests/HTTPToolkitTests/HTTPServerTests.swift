import HTTPToolkit
import Logging
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The toolkit's responder server and client against each other over real sockets on 127.0.0.1.
@Suite struct HTTPServerTests {
    static let logger = Logger(label: "test")

    /// Runs `body` with a server on a free port that answers with `responder`, and a client.
    static func withServer(
        _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(serverName: "toolkit-test"),
        responder: @escaping HTTPResponder,
        _ body: (HTTPServer, OriginClient) async throws -> Void
    ) async throws {
        let server = try await HTTPServer.bind(configuration, logger: logger, responder: responder)
        let client = OriginClient(group: MultiThreadedEventLoopGroup.singleton)
        do {
            try await body(server, client)
        } catch {
            client.shutdown()
            await server.close()
            throw error
        }
        client.shutdown()
        await server.close()
    }

    @Test("a request reaches the responder with its path, decoded query and body; the answer has Content-Length and Server")
    func requestAndResponse() async throws {
        try await Self.withServer(responder: { request in
            let names = request.queryItems("name") ?? ["<bad>"]
            return .text(.ok, "\(request.method) \(request.path) \(names.joined(separator: "|")) \(String(buffer: request.body))")
        }) { server, client async throws in
            let response = try await client.request(
                .POST, server.url(path: "/p/q?name=a%20b&name=c&other=1"), body: ByteBuffer(string: "payload"))
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == "POST /p/q a b|c payload")
            #expect(response.headers.first(name: "Content-Length") == "23")
            #expect(response.headers.first(name: "Server") == "toolkit-test")
        }
    }

    @Test("a badly percent-encoded query value is reported as nil, so the responder can answer 400")
    func badQuery() async throws {
        try await Self.withServer(responder: { request in
            request.queryItems("x") == nil ? .text(.badRequest, "bad\n") : .text(.ok, "ok\n")
        }) { server, client async throws in
            #expect(try await client.request(.GET, server.url(path: "/?x=%zz")).status == .badRequest)
            #expect(try await client.request(.GET, server.url(path: "/?x=%41")).status == .ok)
        }
    }

    @Test("a request with two Host headers gets 400 and never reaches the responder (RFC 9112, 3.2); one Host is served")
    func duplicateHost() async throws {
        let reached = SharedCounter()
        try await Self.withServer(responder: { _ in
            reached.add()
            return .text(.ok, "ok\n")
        }) { server, _ async throws in
            let port = try #require(server.localAddress.port)
            let twice = try await TestConnection.get(port: port, "/", headers: ["Host: other.example"])
            #expect(twice.status == 400)
            #expect(reached.value == 0)
            let once = try await TestConnection.get(port: port, "/")
            #expect(once.status == 200)
            #expect(reached.value == 1)
        }
    }

    @Test("JSON answers decode into the type that was encoded")
    func jsonRoundTrip() async throws {
        let document = AdminAPI.Remounted(generation: 7, objects: 3, certificates: nil)
        try await Self.withServer(responder: { _ in .json(document) }) { server, client async throws in
            let response = try await client.request(.GET, server.url(path: "/"))
            #expect(response.headers.first(name: "Content-Type") == "application/json")
            #expect(try JSON.decode(AdminAPI.Remounted.self, from: response.body) == document)
        }
    }

    @Test("RFC 9110 §9.3.2: HEAD gets the head of GET without the body")
    func head() async throws {
        try await Self.withServer(responder: { _ in .text(.ok, "twelve bytes") }) { server, client async throws in
            let response = try await client.request(.HEAD, server.url(path: "/"))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Length") == "12")
            #expect(response.body.readableBytes == 0)
        }
    }

    @Test("RFC 9110 §15.5.14: a body over the limit is answered 413 and the server keeps serving")
    func bodyTooLarge() async throws {
        try await Self.withServer(HTTPServerConfiguration(maxBodySize: 16), responder: { _ in .text(.ok, "ok\n") }) { server, client async throws in
            let big = try await client.request(.POST, server.url(path: "/"), body: ByteBuffer(repeating: 0x61, count: 1000))
            #expect(big.status == .payloadTooLarge)
            #expect(try await client.request(.GET, server.url(path: "/")).status == .ok)
        }
    }

    @Test("pipelined requests on one connection are answered in order, even when the first is slower")
    func pipelining() async throws {
        try await Self.withServer(responder: { request in
            if request.path == "/slow" { try? await Task.sleep(for: .milliseconds(200)) }
            return .text(.ok, request.path)
        }) { server, _ async throws in
            let connection = try await TestConnection(port: server.address.port)
            await connection.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            let first = try await connection.readResponse()
            let second = try await connection.readResponse()
            #expect([first?.text, second?.text] == ["/slow", "/fast"])
        }
    }

    @Test("answers made at once and answers made in a task keep the order of pipelined requests")
    func pipeliningMixed() async throws {
        let server = try await HTTPServer.bind(HTTPServerConfiguration(), logger: Self.logger, immediate: { request in
            guard request.path == "/slow" else { return .now(.text(.ok, request.path)) }
            return .later {
                try? await Task.sleep(for: .milliseconds(200))
                return .text(.ok, request.path)
            }
        })
        let connection = try await TestConnection(port: server.address.port)
        await connection.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\nGET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /c HTTP/1.1\r\nHost: t\r\n\r\n")
        var paths: [String] = []
        for _ in 0..<5 { paths.append(try await connection.readResponse()?.text ?? "<none>") }
        #expect(paths == ["/a", "/slow", "/b", "/slow", "/c"])
        await connection.close()
        await server.close()
    }

    @Test("the head: an HTTP/1.1 status line, Content-Length, Server and Date (RFC 9110, 6.6.1); keep-alive said to an HTTP/1.0 client that asked for it; a large body whole")
    func responseHead() async throws {
        let large = ByteBuffer(repeating: 0x62, count: 100_000)
        try await Self.withServer(responder: { request in
            request.path == "/large" ? HTTPResponse(status: .ok, body: large) : .text(.ok, "hello")
        }) { server, _ async throws in
            let connection = try await TestConnection(port: server.address.port)
            await connection.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            var raw: [UInt8] = []
            while !String(decoding: raw, as: UTF8.self).hasSuffix("\r\n\r\nhello") {
                let more = await connection.receiveRaw(max: 4096)
                try #require(!more.isEmpty, "the response ended early: \(String(decoding: raw, as: UTF8.self))")
                raw += more
            }
            let text = String(decoding: raw, as: UTF8.self)
            let lines = text[..<(text.firstRange(of: "\r\n\r\n")?.lowerBound ?? text.endIndex)].split(separator: "\r\n")
            #expect(lines[0] == "HTTP/1.1 200 OK")
            let fields = TestResponse(status: 200, headers: lines.dropFirst().map { line in
                let colon = line.firstIndex(of: ":") ?? line.endIndex
                return (String(line[..<colon]), String(line[colon...].dropFirst().drop { $0 == " " }))
            }, body: [])
            #expect(fields.header("Content-Length") == "5")
            #expect(fields.header("Server") == "toolkit-test")
            #expect(fields.header("Connection") == "keep-alive")
            let date = try #require(fields.header("Date").flatMap { HTTPDate.parse($0) })
            #expect(abs(date - Int64(HTTPDate.now())) <= 5)
            await connection.send("GET /large HTTP/1.1\r\nHost: t\r\n\r\n")
            let body = try #require(try await connection.readResponse())
            #expect(body.header("Content-Length") == "100000")
            #expect(body.body == Array(repeating: 0x62, count: 100_000))
            await connection.close()
        }
    }

    @Test("a field a responder made with CR LF in it is never sent: the answer is 500 naming the field")
    func headerInjection() async throws {
        try await Self.withServer(responder: { _ in
            HTTPResponse(status: .found, headers: ["Location": "http://a.example/\r\nSet-Cookie: x=1"])
        }) { server, _ async throws in
            let response = try await TestConnection.get(port: server.address.port, "/")
            #expect(response.status == 500)
            #expect(response.header("Set-Cookie") == nil)
            #expect(response.text.contains("Location"))
        }
    }

    @Test("a malformed request is answered 400 and the connection closes")
    func malformed() async throws {
        try await Self.withServer(responder: { _ in .text(.ok, "ok\n") }) { server, _ async throws in
            let connection = try await TestConnection(port: server.address.port)
            await connection.send("NOT HTTP AT ALL\r\n\r\n")
            #expect(try await connection.readResponse()?.status == 400)
            #expect(await connection.isClosed())
        }
    }

    @Test("the client sends from the local address it is given and gives up after its deadline")
    func clientLocalAddressAndTimeout() async throws {
        try await Self.withServer(responder: { request in
            if request.path == "/hang" { try? await Task.sleep(for: .seconds(5)) }
            return .text(.ok, request.remoteAddress?.ipAddress ?? "?")
        }) { server, client async throws in
            let from = try await client.request(.GET, server.url(path: "/"), localAddress: "127.0.0.9")
            #expect(String(buffer: from.body) == "127.0.0.9")
            let counted = try await client.request(.GET, server.url(path: "/"), keepBody: false)
            #expect(counted.body.readableBytes == 0 && counted.bodyLength == 9)
            await #expect(throws: OriginError.self) {
                try await client.request(.GET, server.url(path: "/hang"), timeout: .milliseconds(200))
            }
        }
    }

    @Test("a port in use is a clear error")
    func bindFailure() async throws {
        let first = try await HTTPServer.bind(HTTPServerConfiguration(), logger: Self.logger, responder: { _ in .text(.ok, "") })
        await #expect(throws: HTTPServerError.self) {
            _ = try await HTTPServer.bind(HTTPServerConfiguration(port: first.address.port), logger: Self.logger, responder: { _ in .text(.ok, "") })
        }
        await first.close()
    }
}

