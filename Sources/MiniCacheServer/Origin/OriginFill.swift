#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import NIOCore
import NIOHTTP1
import Synchronization

/// One origin fetch shared by every request for the same cache key (request coalescing).
///
/// Subscribers receive the response head, the body bytes received so far (replayed from
/// memory), then the rest live, then the end; or a failure. A fetch that breaks, including a
/// body cut short, fails every subscriber: it is never reported as complete. Each subscriber's
/// calls arrive in order on the event loop it subscribed with.
///
/// Bytes are kept in memory for late joiners up to ``OriginFillRegistry``'s retention limit;
/// past it the fill keeps streaming to its subscribers but accepts no new ones. Once a joiner
/// comes, the body is also written, once, to a memory file (``FillFile``), and subscribers that
/// can (``FillSpanReceiver``) get each part with its place there, to send it with `sendfile`.
///
/// A subscriber that gives its request headers (every joiner should) only shares the response
/// if it may be shared at all (``CacheRules/maySharePending(request:response:)``: not
/// private, no-store or personal) and its `Vary` selects the same variant for the joiner as
/// for the request sent (RFC 9111 §4.1), and the response could be reused for the joiner's
/// request as if it were stored (storable, and fresh or stale as the joiner allows: §3, §4); a
/// `304` is for revalidating joiners to apply to their own stored response. Otherwise the
/// joiner gets ``OriginError/Code/notShareable`` or ``OriginError/Code/differentVariant`` and
/// must fetch separately.
///
/// Once the response ended and no hold is left (or the fetch failed), the fill lets go of its
/// subscribers and its task: the cache's recorder is a subscriber whose release closure refers
/// back to the fill, and the viewers' delivery closures hold their connections, so keeping them
/// would keep every fill ever made, with its heads and a connection each, alive.
///
/// Viewers subscribed as paced set the pace of the origin read: when every paced subscriber
/// has fallen behind (``setBacklogged(_:_:)``), the fill stops reading its origin (TCP holds the
/// origin back) until one catches up, so slow viewers never make it buffer the whole response,
/// while one viewer that keeps up is never held back by the others. A paced subscriber also
/// counts as behind while ``pacingWindow`` bytes or more wait on its event loop for delivery: its
/// backlog report can only come once its loop runs, and a loop kept busy (or off the CPU) would
/// otherwise let the fill read the origin at memory speed into that loop's task queue.
package final class OriginFill<Key: Hashable & Sendable>: OriginResponseDelegate {
    private enum Phase {
        case waiting
        case streaming(HTTPResponseHead)
        case finished(HTTPResponseHead)
        case failed(OriginError)
    }

    /// A class, not a struct: the fill walks its subscribers for every part, pace change and
    /// unsubscription, and with a hundred viewers per fill copying five references per element
    /// was a visible part of the live edge's CPU.
    private final class Subscriber: Sendable {
        let delegate: any OriginResponseDelegate
        /// The delegate, when it takes body parts with their place in the fill's memory file.
        let spans: (any FillSpanReceiver)?
        let eventLoop: any EventLoop
        let requestHeaders: HTTPHeaders?
        /// A viewer whose pace counts: the origin is read while one of them keeps up.
        let paced: Bool
        /// The viewer has more queued than it can send (changed under the fill's lock).
        let backlogged = Atomic<Bool>(false)
        /// Body bytes handed to the subscriber's event loop and not yet delivered (paced only).
        let queued: QueuedBytes?

        init(
            delegate: any OriginResponseDelegate, spans: (any FillSpanReceiver)?, eventLoop: any EventLoop, requestHeaders: HTTPHeaders?,
            paced: Bool, queued: QueuedBytes?
        ) {
            self.delegate = delegate
            self.spans = spans
            self.eventLoop = eventLoop
            self.requestHeaders = requestHeaders
            self.paced = paced
            self.queued = queued
        }

        /// Whether the origin read waits for this subscriber.
        var isBehind: Bool {
            backlogged.load(ordering: .relaxed) || (queued?.isFull ?? false)
        }
    }

    /// Bytes on their way to one subscriber: added under the fill's lock when a part is handed to
    /// the subscriber's event loop, taken off on that loop once the subscriber has it.
    private final class QueuedBytes: Sendable {
        private let bytes = Atomic<Int>(0)

        var isFull: Bool { bytes.load(ordering: .relaxed) >= OriginFill.pacingWindow }

        /// Adds `count`; true when that filled the window.
        func add(_ count: Int) -> Bool {
            let (before, after) = bytes.add(count, ordering: .relaxed)
            return before < OriginFill.pacingWindow && after >= OriginFill.pacingWindow
        }

        /// Takes `count` off; true when that opened the window again.
        func remove(_ count: Int) -> Bool {
            let (before, after) = bytes.subtract(count, ordering: .relaxed)
            return before >= OriginFill.pacingWindow && after < OriginFill.pacingWindow
        }
    }

    /// Body bytes that may wait on a paced subscriber's event loop before the origin read waits
    /// for it (as for a subscriber that reported a backlog).
    package static var pacingWindow: Int { 256 << 10 }

    /// The outcome of ``subscribe(_:on:requestHeaders:)``.
    package enum Subscription: Sendable, Equatable {
        /// Subscribed: the response will come.
        case joined
        /// The fill takes no more subscribers (it failed, was released, or passed its retention
        /// limit): look the key up again.
        case closed
        /// The response varies on a request field this request differs in: fetch separately.
        case differentVariant
        /// The response is for its requester only (private, no-store, personal): fetch separately.
        case notShareable
    }

    private struct State {
        var phase = Phase.waiting
        var chunks: [ByteBuffer] = []
        var retainedBytes = 0
        var receivedBytes = 0
        var isJoinable = true
        var isRetaining = true
        var holdAfterFinish = false
        var subscribers: [Subscriber] = []
        var task: OriginTask?
        /// Reading from the origin is paused: every paced subscriber is behind.
        var originPaused = false
        var sentHead: HTTPRequestHead?
        var origin: OriginAddress?
        var requestTime: Int64 = 0
        var responseTime: Int64 = 0
        /// What the response allows joiners, worked out once, when the head arrives with a joiner
        /// waiting or when the first joiner comes: a fill nobody joins (every miss of distinct
        /// URLs) never parses the head for it (3.9 % of the CPU of an all-miss load).
        var sharing: Sharing?
        /// The body so far in a memory file, made when the first joiner subscribes; bytes in it.
        var file: FillFile?
        var fileBytes = 0
        /// No file is made (the system gave none, or a write failed): joiners share buffers.
        var fileRefused = false
    }

    /// The parts of the joiner check that depend on the response and the request sent only.
    private struct Sharing {
        /// The response may be shared with joiners at all (not private, no-store or personal).
        var isShareable: Bool
        var vary: VarySelector
        /// The values of `vary`'s fields in the request sent.
        var sentValues: [String?]
        var isNotModified: Bool
        /// The response as if stored, to decide reuse for each joiner's request; nil when it is
        /// not storable.
        var received: StoredResponse?
    }

    /// The cache key the fill is for.
    package let key: Key
    private let registry: OriginFillRegistry<Key>
    private let retentionLimit: Int
    private let rules: CacheRules
    private let state = Mutex(State())
    /// The relayed fields of the response as joiners get them, made once a second.
    private let joinerFields = JoinerFields()

    init(key: Key, registry: OriginFillRegistry<Key>, retentionLimit: Int, rules: CacheRules) {
        self.key = key
        self.registry = registry
        self.retentionLimit = retentionLimit
        self.rules = rules
    }

    /// Sends the fetch to the origin; call once, on the fill ``OriginFillRegistry/fill(for:)``
    /// created, after subscribing the first subscribers.
    /// - Parameters:
    ///   - request: the request to the origin.
    ///   - origin: where to send it.
    ///   - client: the client to send it with.
    ///   - eventLoop: the preferred event loop for the origin connection.
    ///   - holdAfterFinish: keep the finished fill joinable (from memory) until ``release()``,
    ///     e.g. until the body is committed to the volume, so no request falls between the two.
    package func start(
        _ request: OriginRequest,
        to origin: OriginAddress,
        using client: OriginClient,
        on eventLoop: (any EventLoop)? = nil,
        holdAfterFinish: Bool = false
    ) {
        state.withLock { state in
            state.holdAfterFinish = holdAfterFinish
            state.sentHead = request.head
            state.origin = origin
            state.requestTime = Int64(time(nil))
        }
        let task = client.execute(request, to: origin, on: eventLoop, delegate: self)
        state.withLock { state in
            state.task = task
            Self.pace(&state)
        }
    }

    /// Pauses or resumes reading from the origin as the paced subscribers need: paused only while
    /// every one of them is behind. Called under the lock, so the task sees the changes in order.
    private static func pace(_ state: inout State) {
        guard let task = state.task else { return }
        var paced = 0
        var behind = 0
        for subscriber in state.subscribers where subscriber.paced {
            paced += 1
            if subscriber.isBehind { behind += 1 }
        }
        let pause: Bool
        switch state.phase {
        case .waiting, .streaming: pause = paced > 0 && behind == paced
        case .finished, .failed: pause = false
        }
        guard pause != state.originPaused else { return }
        state.originPaused = pause
        if pause { _ = task.pauseReading() } else { task.resumeReading() }
    }

    /// Tells the fill that a paced subscriber has fallen behind (it holds more of the body than
    /// it can send) or caught up again.
    package func setBacklogged(_ delegate: any OriginResponseDelegate, _ backlogged: Bool) {
        state.withLock { state in
            guard let subscriber = state.subscribers.first(where: { $0.delegate === delegate }) else { return }
            subscriber.backlogged.store(backlogged, ordering: .relaxed)
            Self.pace(&state)
        }
    }

    /// Adds a subscriber; its calls come on `eventLoop`.
    /// - Parameters:
    ///   - delegate: receives the response.
    ///   - eventLoop: where the calls are made.
    ///   - requestHeaders: the subscriber's request headers, to check `Vary` against the request
    ///     sent; `nil` shares whatever the origin answers (the request that started the fill).
    ///   - paced: a viewer that reports when it falls behind (``setBacklogged(_:_:)``); the
    ///     origin is read while one paced subscriber keeps up (or none is subscribed).
    /// - Returns: whether it joined, or why not.
    package func subscribe(
        _ delegate: any OriginResponseDelegate,
        on eventLoop: any EventLoop,
        requestHeaders: HTTPHeaders? = nil,
        paced: Bool = false
    ) -> Subscription {
        state.withLock { state in
            guard state.isJoinable else { return .closed }
            defer { Self.pace(&state) }
            let queued = paced ? QueuedBytes() : nil
            let spans = delegate as? any FillSpanReceiver
            let subscriber = Subscriber(
                delegate: delegate, spans: spans, eventLoop: eventLoop, requestHeaders: requestHeaders, paced: paced, queued: queued)
            switch state.phase {
            case .waiting:
                state.subscribers.append(subscriber)
                if requestHeaders != nil { Self.makeFile(&state) }
            case .streaming(let head), .finished(let head):
                if requestHeaders != nil, state.sharing == nil { state.sharing = self.sharing(head, state: state) }
                if let refusal = refusal(state, subscriber: requestHeaders) { return refusal }
                state.subscribers.append(subscriber)
                Self.makeFile(&state)
                let chunks = state.chunks
                let finished: Bool
                if case .finished = state.phase { finished = true } else { finished = false }
                // The replay counts as queued too: the joiner reports a backlog only once it ran.
                let replayed = state.retainedBytes
                if let queued { _ = queued.add(replayed) }
                // The file holds exactly the retained chunks (both start at the body's first byte).
                let file = state.file.flatMap { state.fileBytes == replayed ? $0 : nil }
                eventLoop.execute {
                    delegate.originDidReceiveHead(head)
                    if let spans, let file {
                        var offset = 0
                        for chunk in chunks {
                            spans.originDidReceiveBodyPart(chunk, in: FileSpan(file: file, offset: offset, length: chunk.readableBytes))
                            offset += chunk.readableBytes
                        }
                    } else {
                        for chunk in chunks { delegate.originDidReceiveBodyPart(chunk) }
                    }
                    if let queued { self.delivered(replayed, to: queued) }
                    if finished { delegate.originDidFinish() }
                }
            case .failed:
                return .closed
            }
            return .joined
        }
    }

    /// Most bytes copied into a new memory file under the fill's lock for a joiner: a fill that
    /// got further than this before its first joiner shares buffers.
    private static var fileBackfillLimit: Int { 4 << 20 }

    /// Makes the memory file of a fill that gets its first joiner, with the body so far. Called
    /// under the lock, so the file's bytes stay in the order the origin sent them.
    private static func makeFile(_ state: inout State) {
        guard state.file == nil, !state.fileRefused else { return }
        guard state.isRetaining, state.retainedBytes == state.receivedBytes, state.retainedBytes <= Self.fileBackfillLimit,
            let file = FillFile()
        else {
            state.fileRefused = true
            return
        }
        var offset = 0
        for chunk in state.chunks {
            guard file.write(chunk, at: offset) else {
                state.fileRefused = true
                return
            }
            offset += chunk.readableBytes
        }
        state.file = file
        state.fileBytes = offset
    }

    /// Removes a subscriber (its client went away); when none is left before the end, the
    /// origin fetch is cancelled.
    package func unsubscribe(_ delegate: any OriginResponseDelegate) {
        let cancel = state.withLock { state -> OriginTask? in
            state.subscribers.removeAll { $0.delegate === delegate }
            guard state.subscribers.isEmpty else {
                Self.pace(&state)
                return nil
            }
            switch state.phase {
            case .waiting, .streaming: return state.task
            case .finished, .failed: return nil
            }
        }
        cancel?.cancel()
    }

    /// Ends a hold taken with `holdAfterFinish`: later requests no longer join this fill.
    package func release() {
        registry.remove(key, ifSame: self)
        state.withLock { state in
            state.isJoinable = false
            state.chunks = []
            state.retainedBytes = 0
            state.file = nil
            Self.letGoIfOver(&state)
        }
    }

    /// Drops the subscribers and the task once nothing more will be delivered to them: the
    /// response ended and no hold is left, or the fetch failed. Called under the lock.
    private static func letGoIfOver(_ state: inout State) {
        switch state.phase {
        case .finished where !state.isJoinable, .failed:
            state.subscribers = []
            state.task = nil
        case .waiting, .streaming, .finished:
            break
        }
    }

    /// The number of subscribers.
    package var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Body bytes received from the origin so far.
    package var receivedBytes: Int { state.withLock { $0.receivedBytes } }

    /// When the request was sent and its response head received (seconds since the epoch), the
    /// `request_time` and `response_time` of RFC 9111 §4.2.3 for the `Age` of joiners.
    package var times: FillTimes {
        state.withLock { FillTimes(requestTime: $0.requestTime, responseTime: $0.responseTime, joinerFields: self.joinerFields) }
    }

    /// An interim response goes to the subscribers that started the fetch (those subscribed
    /// without request headers), never to joiners: it answers the request sent, and nothing says
    /// a joiner may have it before the final response shows whether it may be shared.
    package func originDidReceiveInformational(_ head: HTTPResponseHead) {
        state.withLock { state in
            guard case .waiting = state.phase else { return }
            for subscriber in state.subscribers where subscriber.requestHeaders == nil {
                let delegate = subscriber.delegate
                subscriber.eventLoop.execute { delegate.originDidReceiveInformational(head) }
            }
        }
    }

    package func originDidReceiveHead(_ head: HTTPResponseHead) {
        state.withLock { state in
            state.phase = .streaming(head)
            state.responseTime = Int64(time(nil))
            if state.subscribers.contains(where: { $0.requestHeaders != nil }) { state.sharing = self.sharing(head, state: state) }
            let origin = state.origin ?? OriginAddress(host: "", port: 0)
            let snapshot = state
            state.subscribers.removeAll { subscriber in
                let delegate = subscriber.delegate
                if let refusal = refusal(snapshot, subscriber: subscriber.requestHeaders) {
                    let error =
                        refusal == .notShareable
                        ? OriginError(
                            .notShareable, origin: origin, message: "the response is for its requester only; fetch it separately")
                        : OriginError(
                            .differentVariant, origin: origin,
                            message: "the shared response varies on a request field this request differs in; fetch it separately")
                    subscriber.eventLoop.execute { delegate.originDidFail(error) }
                    return true
                }
                subscriber.eventLoop.execute { delegate.originDidReceiveHead(head) }
                return false
            }
            Self.pace(&state)
        }
    }

    /// What `head` allows joiners, as far as it depends on the response and the request sent.
    private func sharing(_ head: HTTPResponseHead, state: State) -> Sharing {
        let vary = VarySelector(responseHeaders: head.headers)
        let isNotModified = head.status == .notModified
        guard let sent = state.sentHead, rules.maySharePending(request: sent, response: head) else {
            return Sharing(isShareable: false, vary: vary, sentValues: [], isNotModified: isNotModified, received: nil)
        }
        let sentValues = vary.isEmpty ? [] : vary.values(from: sent.headers)
        // A joiner gets the response as if it were stored: only when it could be reused for the
        // joiner's request now (RFC 9111 §4), not merely because it was fetched a moment ago.
        guard !isNotModified, rules.storability(request: sent, response: head) == .store else {
            return Sharing(isShareable: true, vary: vary, sentValues: sentValues, isNotModified: isNotModified, received: nil)
        }
        let received = StoredResponse(
            requestHeaders: sent.headers, response: head, requestTime: state.requestTime, responseTime: state.responseTime,
            isShared: rules.configuration.isShared, targets: rules.configuration.targetedFields)
        return Sharing(isShareable: true, vary: vary, sentValues: sentValues, isNotModified: false, received: received)
    }

    // Why a joiner with `subscriber` headers may not have the response, if it may not.
    private func refusal(_ state: State, subscriber: HTTPHeaders?) -> Subscription? {
        guard let subscriber else { return nil }
        guard let sharing = state.sharing, let sent = state.sentHead, sharing.isShareable else { return .notShareable }
        guard sharing.vary.isEmpty || sharing.vary.values(from: subscriber) == sharing.sentValues else {
            return .differentVariant
        }
        if sharing.isNotModified { return nil }
        guard let received = sharing.received else { return .notShareable }
        let joiner = HTTPRequestHead(version: sent.version, method: .GET, uri: sent.uri, headers: subscriber)
        switch rules.decide(request: joiner, stored: received, now: Int64(time(nil))) {
        case .fresh, .staleAcceptedByRequest: return nil
        case .staleWhileRevalidate, .revalidate, .miss, .gatewayTimeout: return .notShareable
        }
    }

    package func originDidReceiveBodyPart(_ part: ByteBuffer) {
        let count = part.readableBytes
        let (subscribers, overLimit, span) = state.withLock { state in
            state.receivedBytes += count
            if state.isRetaining {
                state.chunks.append(part)
                state.retainedBytes += count
            }
            var span: FileSpan?
            if let file = state.file {
                if file.write(part, at: state.fileBytes) {
                    span = FileSpan(file: file, offset: state.fileBytes, length: count)
                    state.fileBytes += count
                } else {
                    state.file = nil
                    state.fileRefused = true
                }
            }
            var filled = false
            for subscriber in state.subscribers {
                if let queued = subscriber.queued, queued.add(count) { filled = true }
            }
            if filled { Self.pace(&state) }
            return (state.subscribers, state.isRetaining && state.retainedBytes > retentionLimit, span)
        }
        if overLimit {
            // Leave the registry first, so a request that finds the fill closed looks up a new one,
            // and before any subscriber sees the part: once bytes past the limit are out, no new
            // request joins this fill.
            registry.remove(key, ifSame: self)
            state.withLock { state in
                state.isJoinable = false
                state.isRetaining = false
                state.chunks = []
                state.retainedBytes = 0
                state.file = nil
            }
        }
        // A subscriber that joins after the snapshot above replays this part from `chunks`.
        for subscriber in subscribers {
            let delegate = subscriber.delegate
            if let span, let spans = subscriber.spans {
                let queued = subscriber.queued
                subscriber.eventLoop.execute {
                    spans.originDidReceiveBodyPart(part, in: span)
                    if let queued { self.delivered(count, to: queued) }
                }
            } else if let queued = subscriber.queued {
                subscriber.eventLoop.execute {
                    delegate.originDidReceiveBodyPart(part)
                    self.delivered(count, to: queued)
                }
            } else {
                subscriber.eventLoop.execute { delegate.originDidReceiveBodyPart(part) }
            }
        }
    }

    /// A paced subscriber has `count` more bytes (after it reported any backlog they made):
    /// when that opens its window, the origin read may go on.
    private func delivered(_ count: Int, to queued: QueuedBytes) {
        guard queued.remove(count) else { return }
        state.withLock { Self.pace(&$0) }
    }

    package func originDidFinish() {
        let hold = state.withLock { state -> Bool in
            guard case .streaming(let head) = state.phase else { return false }
            state.phase = .finished(head)
            for subscriber in state.subscribers {
                let delegate = subscriber.delegate
                subscriber.eventLoop.execute { delegate.originDidFinish() }
            }
            return state.holdAfterFinish && state.isJoinable
        }
        if !hold { release() }
    }

    package func originDidFail(_ error: OriginError) {
        registry.remove(key, ifSame: self)
        state.withLock { state in
            state.phase = .failed(error)
            state.isJoinable = false
            state.chunks = []
            state.retainedBytes = 0
            state.file = nil
            for subscriber in state.subscribers {
                let delegate = subscriber.delegate
                subscriber.eventLoop.execute { delegate.originDidFail(error) }
            }
            Self.letGoIfOver(&state)
        }
    }
}

/// A subscriber of a fill that can take body parts with their place in the fill's memory file
/// (``FillFile``), to send them from it.
package protocol FillSpanReceiver: OriginResponseDelegate {
    /// Body bytes arrived; they are also `span` of the fill's file.
    func originDidReceiveBodyPart(_ part: ByteBuffer, in span: FileSpan)
}
