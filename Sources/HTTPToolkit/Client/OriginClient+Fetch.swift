import NIOCore
import NIOHTTP1
import Synchronization

extension OriginClient {
    /// Sends `request` and collects the whole response: for revalidations and small objects.
    /// - Parameters:
    ///   - request: the request.
    ///   - origin: where to send it.
    ///   - eventLoop: the preferred event loop; by default any.
    ///   - maxBodySize: bodies larger than this fail the fetch and close the connection.
    /// - Throws: ``OriginError`` when the exchange failed; a 5xx is a response, not an error.
    package func fetch(
        _ request: OriginRequest,
        from origin: OriginAddress,
        on eventLoop: (any EventLoop)? = nil,
        maxBodySize: Int = 64 << 20
    ) async throws(OriginError) -> OriginResponse {
        let collector = ResponseCollector(origin: origin, maxBodySize: maxBodySize)
        let result = await withCheckedContinuation { continuation in
            collector.setContinuation(continuation)
            collector.setTask(execute(request, to: origin, on: eventLoop, delegate: collector))
        }
        return try result.get()
    }
}

/// Collects a response for ``OriginClient/fetch(_:from:on:maxBodySize:)``.
private final class ResponseCollector: OriginResponseDelegate {
    private struct State {
        var continuation: CheckedContinuation<Result<OriginResponse, OriginError>, Never>?
        var task: OriginTask?
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        var result: Result<OriginResponse, OriginError>?
    }

    private let origin: OriginAddress
    private let maxBodySize: Int
    private let state = Mutex(State())

    init(origin: OriginAddress, maxBodySize: Int) {
        self.origin = origin
        self.maxBodySize = maxBodySize
    }

    func setContinuation(_ continuation: CheckedContinuation<Result<OriginResponse, OriginError>, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func setTask(_ task: OriginTask) {
        state.withLock { $0.task = task }
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        state.withLock { $0.head = head }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        let overflow = state.withLock { state -> OriginTask? in
            guard state.result == nil else { return nil }
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
            return .success(OriginResponse(head: head, body: state.body))
        }
    }

    func originDidFail(_ error: OriginError) {
        complete { state in
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
