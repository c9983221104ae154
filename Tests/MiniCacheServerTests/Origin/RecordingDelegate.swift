import HTTPToolkit
import MiniCacheServer
import NIOCore
import NIOHTTP1
import Synchronization

/// An ``OriginResponseDelegate`` that records what it receives and lets a test await the end.
final class RecordingDelegate: OriginResponseDelegate {
    struct Record: Sendable {
        var head: HTTPResponseHead?
        var body: [UInt8] = []
        var parts = 0
        var finished = false
        var error: OriginError?
        var outOfOrder = false
        var ends = 0
    }

    private let state = Mutex<(record: Record, waiters: [CheckedContinuation<Record, Never>])>((Record(), []))

    var record: Record { state.withLock { $0.record } }

    var bodyString: String { String(decoding: record.body, as: UTF8.self) }

    /// Waits until the response finished or failed.
    func end() async -> Record {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Record? in
                if state.record.ends > 0 { return state.record }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Polls until `condition` holds on the record (a minute at most: a safety margin).
    func wait(until condition: (Record) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if condition(record) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition(record)
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        state.withLock { state in
            if state.record.head != nil || state.record.ends > 0 { state.record.outOfOrder = true }
            state.record.head = head
        }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        state.withLock { state in
            if state.record.head == nil || state.record.ends > 0 { state.record.outOfOrder = true }
            state.record.body += part.readableBytesView
            state.record.parts += 1
        }
    }

    func originDidFinish() {
        finish { $0.finished = true }
    }

    func originDidFail(_ error: OriginError) {
        finish { $0.error = error }
    }

    private func finish(_ update: (inout Record) -> Void) {
        let (record, waiters) = state.withLock { state in
            update(&state.record)
            state.record.ends += 1
            defer { state.waiters = [] }
            return (state.record, state.waiters)
        }
        for waiter in waiters { waiter.resume(returning: record) }
    }
}
