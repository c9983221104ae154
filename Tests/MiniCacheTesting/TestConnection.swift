import NIOCore
import NIOPosix
import Synchronization

/// An async HTTP/1.1 test client over one TCP connection, with byte-level control: it sends raw
/// bytes and reads responses, raw bytes or the end of the stream.
///
/// It reads only when asked (auto-read is off), so a test that does not read leaves the server's
/// bytes in the kernel's buffers and the server sees back-pressure, as with a slow viewer. Every
/// wait ends after `timeout` seconds: a read that times out reports the end of the data.
public actor TestConnection {
    private let channel: any Channel
    private let inbox: Inbox
    private let timeout: TimeAmount
    private var buffer: [UInt8] = []

    /// Connects to `host:port`, from `localAddress` when given (for clients on a site's range).
    public init(port: Int, host: String = "127.0.0.1", localAddress: String? = nil, timeout: Double = 10) async throws {
        let inbox = Inbox()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelOption(.autoRead, value: false)
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 256 << 10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(inbox) }
            }
        if let localAddress {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localAddress, port: 0))
        }
        do {
            self.channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw TestClientError(description: "cannot connect to \(host):\(port): \(error)")
        }
        self.inbox = inbox
        self.timeout = .nanoseconds(Int64(timeout * 1e9))
    }

    deinit {
        self.channel.close(promise: nil)
    }

    /// Closes the connection.
    public func close() async {
        try? await self.channel.close()
    }

    /// Sends bytes; false when the connection is closed.
    @discardableResult
    public func send(_ bytes: [UInt8]) async -> Bool {
        do {
            try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
            return true
        } catch {
            return false
        }
    }

    @discardableResult
    public func send(_ text: String) async -> Bool { await self.send(Array(text.utf8)) }

    /// Receives more bytes into the buffer; false at the end of the stream or after the timeout.
    private func fill() async -> Bool {
        let deadline = NIODeadline.now() + self.timeout
        while true {
            let (bytes, ended) = self.inbox.take()
            if !bytes.isEmpty {
                self.buffer += bytes
                return true
            }
            if ended { return false }
            self.channel.read()
            guard await self.inbox.waitForEvent(until: deadline, on: self.channel.eventLoop) else { return false }
        }
    }

    /// Reads one response; nil when the connection ended before one began.
    ///
    /// - Parameter isHeadRequest: the response answers a HEAD request (it has no body).
    public func readResponse(head isHeadRequest: Bool = false) async throws -> TestResponse? {
        var headEnd: Int
        while true {
            if let end = self.buffer.firstIndex(of: [13, 10, 13, 10]) {
                headEnd = end
                break
            }
            if await !self.fill() {
                if self.buffer.isEmpty { return nil }
                throw TestClientError(description: "connection ended inside a response head: \(String(decoding: self.buffer, as: UTF8.self))")
            }
        }
        let (status, headers) = try TestResponse.parseHead(String(decoding: self.buffer[0..<headEnd], as: UTF8.self))
        self.buffer.removeFirst(headEnd + 4)
        var response = TestResponse(status: status, headers: headers, body: [])
        if isHeadRequest || status == 304 || status == 204 || status / 100 == 1 { return response }
        if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            while self.buffer.count < length {
                guard await self.fill() else {
                    throw TestClientError(description: "connection ended after \(self.buffer.count) of \(length) body bytes")
                }
            }
            response.body = Array(self.buffer[0..<length])
            self.buffer.removeFirst(length)
        } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            response.body = try await self.readChunkedBody()
        } else {
            while await self.fill() {}
            response.body = self.buffer
            self.buffer = []
        }
        return response
    }

    private func readChunkedBody() async throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            var lineEnd = self.buffer.firstIndex(of: [13, 10])
            while lineEnd == nil {
                guard await self.fill() else { throw TestClientError(description: "connection ended in a chunk size line") }
                lineEnd = self.buffer.firstIndex(of: [13, 10])
            }
            let sizeText = String(decoding: self.buffer[0..<lineEnd!], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first.map(String.init)?.trimmingSpaces() ?? "", radix: 16) else {
                throw TestClientError(description: "bad chunk size line \(sizeText)")
            }
            self.buffer.removeFirst(lineEnd! + 2)
            while self.buffer.count < size + 2 {
                guard await self.fill() else { throw TestClientError(description: "connection ended in a chunk") }
            }
            body += self.buffer[0..<size]
            self.buffer.removeFirst(size + 2)
            if size == 0 { return body }
        }
    }

    /// Every byte received until the end of the stream (or the timeout).
    public func readToEnd() async -> [UInt8] {
        while await self.fill() {}
        defer { self.buffer = [] }
        return self.buffer
    }

    /// Everything received until the server closed the connection (end of stream or reset: true)
    /// or the timeout passed (false).
    public func readUntilClosed() async -> (bytes: [UInt8], closed: Bool) {
        while await self.fill() {}
        defer { self.buffer = [] }
        return (self.buffer, self.inbox.take().ended)
    }

    /// Whether the server closed the connection within the timeout (bytes before the end are
    /// dropped).
    public func isClosed() async -> Bool {
        await self.readUntilClosed().closed
    }

    /// Receives at most `count` bytes: what is buffered, or one read's worth (for slow readers);
    /// empty at the end of the stream or after the timeout.
    public func receiveRaw(max count: Int) async -> [UInt8] {
        if self.buffer.isEmpty, await !self.fill() { return [] }
        let n = min(count, self.buffer.count)
        defer { self.buffer.removeFirst(n) }
        return Array(self.buffer[0..<n])
    }

    /// One request on a fresh connection.
    public static func get(port: Int, _ target: String, headers: [String] = [], method: String = "GET") async throws -> TestResponse {
        let connection = try await TestConnection(port: port)
        let extra = headers.map { $0 + "\r\n" }.joined()
        await connection.send("\(method) \(target) HTTP/1.1\r\nHost: test\r\n\(extra)\r\n")
        guard let response = try await connection.readResponse(head: method == "HEAD") else {
            throw TestClientError(description: "no response to \(method) \(target)")
        }
        await connection.close()
        return response
    }

    /// The index of the first occurrence of `needle` in `haystack`.
    public static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        haystack.firstIndex(of: needle)
    }
}

/// Collects what the channel reads, for one waiting reader.
private final class Inbox: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private struct State {
        var bytes: [UInt8] = []
        var ended = false
        var waiter: (id: Int, continuation: CheckedContinuation<Bool, Never>)?
        var nextID = 0
    }

    private let state = Mutex(State())

    /// The bytes received since the last call, and whether the stream has ended.
    func take() -> (bytes: [UInt8], ended: Bool) {
        self.state.withLock { state in
            defer { state.bytes = [] }
            return (state.bytes, state.ended)
        }
    }

    /// Waits until bytes arrive or the stream ends (true), or `deadline` passes (false).
    func waitForEvent(until deadline: NIODeadline, on eventLoop: any EventLoop) async -> Bool {
        await withCheckedContinuation { continuation in
            let id: Int? = self.state.withLock { state in
                if !state.bytes.isEmpty || state.ended { return nil }
                state.nextID += 1
                state.waiter = (state.nextID, continuation)
                return state.nextID
            }
            guard let id else {
                continuation.resume(returning: true)
                return
            }
            eventLoop.scheduleTask(deadline: deadline) {
                let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                waiter?.resume(returning: false)
            }
        }
    }

    private func wake(_ change: (inout State) -> Void) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
            change(&state)
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: true)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        self.wake { $0.bytes += buffer.readableBytesView }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.wake { $0.ended = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset ends the stream like a close does.
        context.close(promise: nil)
    }
}
