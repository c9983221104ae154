import NIOCore
import NIOHTTP1
import Synchronization

extension OriginClient {
    /// Sends `request` and collects the whole response: for revalidations, small objects and
    /// API calls.
    /// - Parameters:
    ///   - request: the request.
    ///   - origin: where to send it.
    ///   - localAddress: an IP address to send from; by default the system chooses.
    ///   - eventLoop: the preferred event loop; by default any.
    ///   - timeout: the longest the whole exchange may take, connecting included; by default
    ///     only the connect and read timeouts apply.
    ///   - keepBody: false counts the body bytes (``OriginResponse/bodyLength``) without keeping them.
    ///   - maxBodySize: kept bodies larger than this fail the fetch and close the connection.
    /// - Throws: ``OriginError`` when the exchange failed; a 5xx is a response, not an error.
    package func fetch(
        _ request: OriginRequest,
        from origin: OriginAddress,
        localAddress: String? = nil,
        on eventLoop: (any EventLoop)? = nil,
        timeout: TimeAmount? = nil,
        keepBody: Bool = true,
        maxBodySize: Int = 64 << 20
    ) async throws(OriginError) -> OriginResponse {
        let loop = eventLoop ?? group.next()
        let collector = ResponseCollector(origin: origin, keepBody: keepBody, maxBodySize: maxBodySize, timeout: timeout)
        let deadline = timeout.map { timeout in loop.scheduleTask(in: timeout) { collector.expire() } }
        let result = await withCheckedContinuation { continuation in
            collector.setContinuation(continuation)
            collector.setTask(execute(request, to: origin, localAddress: localAddress, on: loop, delegate: collector))
        }
        deadline?.cancel()
        return try result.get()
    }

    /// Sends one request to `url` and collects the response; see
    /// ``fetch(_:from:localAddress:on:timeout:keepBody:maxBodySize:)``.
    /// - Throws: ``OriginError`` when the exchange failed; an error status is a response.
    package func request(
        _ method: HTTPMethod = .GET,
        _ url: HTTPURL,
        headers: HTTPHeaders = [:],
        body: ByteBuffer? = nil,
        localAddress: String? = nil,
        timeout: TimeAmount? = nil,
        keepBody: Bool = true
    ) async throws(OriginError) -> OriginResponse {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.path, headers: headers)
        if !head.headers.contains(name: "host") { head.headers.add(name: "Host", value: url.authority) }
        return try await fetch(
            OriginRequest(head: head, body: body), from: url.address, localAddress: localAddress, timeout: timeout,
            keepBody: keepBody)
    }
}

/// Collects a response for ``OriginClient/fetch(_:from:localAddress:on:timeout:keepBody:maxBodySize:)``.
private final class ResponseCollector: OriginResponseDelegate {
    private struct State {
        var continuation: CheckedContinuation<Result<OriginResponse, OriginError>, Never>?
        var task: OriginTask?
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        var bodyLength = 0
        var isExpired = false
        var result: Result<OriginResponse, OriginError>?
    }

    private let origin: OriginAddress
    private let keepBody: Bool
    private let maxBodySize: Int
    private let timeout: TimeAmount?
    private let state = Mutex(State())

    init(origin: OriginAddress, keepBody: Bool, maxBodySize: Int, timeout: TimeAmount?) {
        self.origin = origin
        self.keepBody = keepBody
        self.maxBodySize = maxBodySize
        self.timeout = timeout
    }

    /// The deadline passed: the request is cancelled and fails with ``OriginError/Code/timeout``.
    func expire() {
        let task = state.withLock { state -> OriginTask? in
            guard state.result == nil else { return nil }
            state.isExpired = true
            return state.task
        }
        task?.cancel()
    }

    func setContinuation(_ continuation: CheckedContinuation<Result<OriginResponse, OriginError>, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func setTask(_ task: OriginTask) {
        let expired = state.withLock { state in
            state.task = task
            return state.isExpired
        }
        if expired { task.cancel() }
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        state.withLock { $0.head = head }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        let overflow = state.withLock { state -> OriginTask? in
            guard state.result == nil else { return nil }
            state.bodyLength += part.readableBytes
            guard keepBody else { return nil }
            var part = part
            state.body.writeBuffer(&part)
            guard state.body.readableBytes > maxBodySize else { return nil }
            return state.task
        }
        overflow?.cancel()
    }

    func originDidFinish() {
        complete { state in
            guard let head = state.head else {
                return .failure(OriginError(.badResponse, origin: origin, message: "the response ended without a head"))
            }
            return .success(OriginResponse(head: head, body: state.body, bodyLength: state.bodyLength))
        }
    }

    func originDidFail(_ error: OriginError) {
        complete { state in
            if error.code == .cancelled && state.isExpired, let timeout {
                return .failure(
                    OriginError(.timeout, origin: origin, message: "no complete response within \(timeout)", cause: error))
            }
            if error.code == .cancelled && state.body.readableBytes > maxBodySize {
                return .failure(
                    OriginError(.badResponse, origin: origin, message: "the body is larger than \(maxBodySize) bytes"))
            }
            return .failure(error)
        }
    }

    private func complete(_ makeResult: (inout State) -> Result<OriginResponse, OriginError>) {
        let resume = state.withLock { state -> (CheckedContinuation<Result<OriginResponse, OriginError>, Never>, Result<OriginResponse, OriginError>)? in
            guard state.result == nil, let continuation = state.continuation else { return nil }
            let result = makeResult(&state)
            state.result = result
            state.continuation = nil
            return (continuation, result)
        }
        if let (continuation, result) = resume { continuation.resume(returning: result) }
    }
}
