import NIOCore

/// The life of one HTTP/1.1 data-plane connection as a value: events in, actions out.
///
/// A connection reads requests and answers them in order (pipelining) until one needs more than
/// the bytes at hand — a body streamed from the volume, or a response relayed from upstream —
/// and then reads nothing until that response has been handed over. It closes after a response
/// that does not keep it alive, on shutdown once its request in progress is answered
/// (quiescing), or when a deadline passes: the header timeout (a request head must complete, and
/// a new connection must send one), the idle timeout (a keep-alive connection must send its next
/// request) and the stall timeout (a streamed body must make progress).
///
/// There is no channel and no clock here: ``HTTPConnectionHandler`` reports what happened, with
/// the time when it matters, and performs the actions returned. One timer serves every deadline:
/// it is scheduled only when a deadline comes earlier than the timer, and a timer that fires
/// before the current deadline is scheduled again for it.
struct ConnectionStateMachine {
    /// What the connection is doing.
    enum Activity: Equatable {
        /// Waiting for (the rest of) a request, or answering the requests buffered.
        case reading
        /// A body streams from the volume; requests behind it wait.
        case streaming
        /// A response is relayed from upstream; requests behind it wait.
        case relaying
    }

    /// How much longer the connection lives.
    enum Lifecycle: Equatable {
        /// Answers requests and keeps the connection.
        case open
        /// Shutting down: the request in progress is answered with `Connection: close`.
        case quiescing
        /// Closes once the responses written so far are out (after the body in progress, if any).
        case closing
        /// Closed, or closing with nothing left to write: events are ignored.
        case closed
    }

    /// Which timeout the deadline is.
    enum DeadlineKind: Equatable {
        /// None: a relayed response waits for upstream, which has its own timeouts.
        case none
        /// A request head must complete.
        case header
        /// A keep-alive connection must send its next request.
        case idle
        /// A streamed body must make progress (the client keeps reading).
        case stall
    }

    /// The timer to schedule.
    enum TimerAction: Equatable {
        case none
        /// Cancel the timer, if any, and schedule it for this time.
        case schedule(NIODeadline)
    }

    /// What to do with bytes received.
    enum ReceiveAction: Equatable {
        /// The connection is closing: drop them.
        case drop
        /// Keep them for later (a response is streaming or relayed).
        case buffer
        /// Buffer them and answer the complete requests.
        case answer
    }

    /// What to do with the output written so far.
    enum FlushAction: Equatable {
        /// Write and flush it.
        case flush
        /// Write and flush it, then close the connection.
        case flushAndClose
    }

    /// What to do once a streamed or relayed response has been handed over.
    enum HandoverAction: Equatable {
        case none
        /// Answer the requests buffered behind it.
        case answerNext
    }

    /// What to do when the timer fires.
    enum TimeoutAction: Equatable {
        case none
        /// The deadline moved: schedule the timer again.
        case schedule(NIODeadline)
        /// The client stopped reading a streamed body: close now, dropping what is not written.
        case closeNow
        /// A request head did not complete in time: answer `408`, then close.
        case requestTimeout
        /// The connection was idle too long: close once the output is written.
        case close
    }

    private let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private(set) var activity = Activity.reading
    private(set) var lifecycle = Lifecycle.open
    /// Inside the request loop: a response that completes synchronously must not start it again.
    private(set) var isAnswering = false
    /// Between `channelRead` and `channelReadComplete`: the batch's output is flushed at its end.
    private(set) var isReading = false
    /// A read was asked for while a response streamed or was relayed.
    private(set) var readPending = false
    private(set) var deadlineKind = DeadlineKind.none
    private(set) var deadline = NIODeadline.uptimeNanoseconds(0)
    /// When the scheduled timer fires; nil when none is scheduled.
    private(set) var timerAt: NIODeadline?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
    }

    // MARK: - Channel events

    /// The connection is up: its first request head must arrive within the header timeout.
    mutating func channelActive(now: NIODeadline) -> TimerAction {
        self.setDeadline(.header, now + self.headerTimeout)
    }

    /// The connection went away; true when a relayed response must be cancelled.
    mutating func channelInactive() -> Bool {
        let wasRelaying = self.activity == .relaying
        self.lifecycle = .closed
        self.activity = .reading
        self.timerAt = nil
        return wasRelaying
    }

    /// Bytes arrived.
    mutating func bytesReceived() -> ReceiveAction {
        switch self.lifecycle {
        case .closing, .closed:
            return .drop
        case .open, .quiescing:
            self.isReading = true
            return self.activity == .reading ? .answer : .buffer
        }
    }

    /// The read batch ended.
    mutating func channelReadComplete() -> FlushAction {
        self.isReading = false
        return self.flush()
    }

    /// The pipeline asks for more bytes; true to read now, false to hold the read until the
    /// response in progress is handed over.
    mutating func readRequested() -> Bool {
        if self.activity == .reading, self.lifecycle == .open || self.lifecycle == .quiescing {
            return true
        }
        self.readPending = true
        return false
    }

    /// The output written so far is to go out: closes the connection when it is closing and no
    /// response is in progress.
    mutating func flush() -> FlushAction {
        if self.lifecycle == .closing, self.activity == .reading {
            self.lifecycle = .closed
            return .flushAndClose
        }
        return .flush
    }

    /// The server shuts down: an idle connection closes now, one in the middle of a request or
    /// response closes after it.
    /// - Returns: the flush to perform now, if any.
    mutating func quiesce(hasBufferedInput: Bool) -> FlushAction? {
        guard self.lifecycle == .open else { return nil }
        self.lifecycle = .quiescing
        guard self.activity == .reading, !self.isAnswering, !hasBufferedInput else { return nil }
        self.lifecycle = .closing
        return self.flush()
    }

    /// Closes at once (a stalled client, a failed write or read): nothing more is written.
    mutating func closeNow() {
        self.lifecycle = .closed
        self.activity = .reading
    }

    // MARK: - The request loop

    /// Starts answering the requests buffered; false when the loop is running already (a
    /// response completed inside it, which goes on with the next request itself).
    mutating func startAnswering() -> Bool {
        guard !self.isAnswering else { return false }
        self.isAnswering = true
        return true
    }

    /// Whether the next buffered request may be answered now.
    var mayAnswer: Bool {
        self.activity == .reading && (self.lifecycle == .open || self.lifecycle == .quiescing)
    }

    /// Whether the response to a request that asks to keep the connection keeps it.
    func keepsAlive(_ requested: Bool) -> Bool {
        requested && self.lifecycle == .open
    }

    /// The bytes buffered end inside a request: its head must complete within the header timeout.
    mutating func requestIncomplete(now: NIODeadline) -> TimerAction {
        self.deadlineKind == .header ? .none : self.setDeadline(.header, now + self.headerTimeout)
    }

    /// A response was written; one that does not keep the connection closes it after its bytes.
    mutating func responseWritten(keepAlive: Bool) {
        if !keepAlive, self.lifecycle == .open || self.lifecycle == .quiescing {
            self.lifecycle = .closing
        }
    }

    /// The request loop stopped (the input is used up, incomplete, or a response streams).
    mutating func stopAnswering(inputEmpty: Bool, now: NIODeadline) -> TimerAction {
        self.isAnswering = false
        guard inputEmpty, self.activity == .reading else { return .none }
        switch self.lifecycle {
        case .open:
            return self.setDeadline(.idle, now + self.idleTimeout)
        case .quiescing:
            self.lifecycle = .closing
            return .none
        case .closing, .closed:
            return .none
        }
    }

    // MARK: - Streamed and relayed responses

    /// A body starts streaming: the client must keep reading it.
    mutating func streamStarted(now: NIODeadline) -> TimerAction {
        self.activity = .streaming
        return self.setDeadline(.stall, now + self.idleTimeout)
    }

    /// Part of a streamed body was written: the stall deadline moves on.
    mutating func streamProgressed(now: NIODeadline) {
        self.deadline = now + self.idleTimeout
    }

    /// A response starts being relayed from upstream (which has its own timeouts).
    mutating func relayStarted() {
        self.activity = .relaying
        self.deadlineKind = .none
    }

    /// The client fell behind a relayed body: it must keep taking parts of it, or be cut after
    /// the idle timeout.
    mutating func relayFellBehind(now: NIODeadline) -> TimerAction {
        guard self.activity == .relaying else { return .none }
        return self.setDeadline(.stall, now + self.idleTimeout)
    }

    /// Part of a relayed body the client was behind on was written: the stall deadline moves on.
    mutating func relayProgressed(now: NIODeadline) {
        if self.activity == .relaying, self.deadlineKind == .stall { self.deadline = now + self.idleTimeout }
    }

    /// The client caught up with a relayed body: only upstream's own timeouts apply again.
    mutating func relayCaughtUp() {
        if self.activity == .relaying { self.deadlineKind = .none }
    }

    /// The streamed or relayed response was handed over, or replaced by one written whole.
    mutating func responseHandedOver() -> HandoverAction {
        self.activity = .reading
        if self.lifecycle == .closed || self.isAnswering { return .none }
        return .answerNext
    }

    /// After answering the requests that waited behind a handed-over response: whether to flush
    /// (outside a read batch nothing else will) and whether to perform the read held back.
    mutating func resumed() -> (flush: Bool, read: Bool) {
        let read = self.readPending && self.activity == .reading && (self.lifecycle == .open || self.lifecycle == .quiescing)
        if read { self.readPending = false }
        return (!self.isReading, read)
    }

    // MARK: - Timer

    /// The timer fired at `now`.
    mutating func timerFired(now: NIODeadline, hasBufferedInput: Bool) -> TimeoutAction {
        self.timerAt = nil
        guard self.lifecycle != .closed, self.deadlineKind != .none else { return .none }
        if now < self.deadline {
            self.timerAt = self.deadline
            return .schedule(self.deadline)
        }
        switch self.activity {
        case .streaming, .relaying:
            guard self.deadlineKind == .stall else { return .none }
            self.closeNow()
            return .closeNow
        case .reading:
            if self.deadlineKind == .header, hasBufferedInput { return .requestTimeout }
            self.lifecycle = .closing
            return .close
        }
    }

    private mutating func setDeadline(_ kind: DeadlineKind, _ at: NIODeadline) -> TimerAction {
        self.deadlineKind = kind
        self.deadline = at
        if let timerAt = self.timerAt, timerAt <= at { return .none }
        self.timerAt = at
        return .schedule(at)
    }
}
