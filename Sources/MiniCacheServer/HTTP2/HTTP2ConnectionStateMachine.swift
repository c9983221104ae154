import NIOCore

/// The protocol state of one server-side HTTP/2 connection (RFC 9113) as a value: frames in,
/// actions out.
///
/// It keeps the streams' states and identifiers, the flow-control windows the client grants
/// (the connection's and each stream's), the client's settings, the server's limits, `GOAWAY` in
/// both directions, and the count of frames that cost the server and give the client nothing
/// (``abuseLimit`` per ``abuseWindow``), and when the connection times out: it must send a
/// request within the header timeout, then never stay longer than the idle timeout without a
/// frame or body progress. A rule broken on a stream is a stream error, returned as
/// an action that resets it; a rule broken on the connection is thrown as a
/// ``HTTP2FrameReader/ConnectionError``, after which the connection must end with
/// ``connectionFailed()``'s `GOAWAY`.
///
/// There is no channel, no clock and no request here: ``HTTP2ConnectionHandler`` cuts the bytes
/// into frames (``HTTP2FrameReader``, which also checks the preface and `CONTINUATION`
/// sequences), decodes header blocks, reports each frame with the time (read only when the frame
/// counts against the abuse limit), writes the frames the actions ask for and keeps each open
/// stream's request and response.
struct HTTP2ConnectionStateMachine {
    typealias ConnectionError = HTTP2FrameReader.ConnectionError

    /// How much longer the connection lives.
    enum Lifecycle: Equatable {
        /// New streams are accepted.
        case open
        /// A `GOAWAY` was sent or received: new streams are refused, the open ones answered.
        case quiescing
        /// Closed, or closing after a connection error: frames are ignored.
        case closed
    }

    /// What to do after a `HEADERS` frame (its block decoded).
    enum HeadersAction: Equatable {
        /// Nothing to do: trailers of a request answered before its body ended, or a block on a
        /// stream the server closed, which may have crossed the server's frame (RFC 9113 §5.1).
        case ignore
        /// A new stream: answer its request; its body follows when `bodyFollows`.
        case open(bodyFollows: Bool)
        /// Trailers: the request's body is complete.
        case requestEnded
        /// Write `RST_STREAM` with this code; the stream is closed (or was never opened).
        case reset(HTTP2Wire.ErrorCode)
    }

    /// What to do after a `DATA` frame. Each case first reopens the connection's receive window
    /// by `windowIncrement` with a `WINDOW_UPDATE` when it is above 0.
    enum DataAction: Equatable {
        /// The bytes are not wanted.
        case drop(windowIncrement: Int)
        /// The bytes belong to the stream's request body: reopen the stream's window by
        /// `streamIncrement` when above 0, and end the request after them when `endStream`.
        case deliver(windowIncrement: Int, streamIncrement: Int, endStream: Bool)
        /// Write `RST_STREAM` with this code; the stream is closed.
        case reset(windowIncrement: Int, HTTP2Wire.ErrorCode)
    }

    /// What to do after a `PRIORITY` frame.
    enum PriorityAction: Equatable {
        case none
        /// Write `RST_STREAM` with this code; the stream, if open, is closed.
        case reset(HTTP2Wire.ErrorCode)
    }

    /// What to do after a `WINDOW_UPDATE` frame.
    enum WindowUpdateAction: Equatable {
        case none
        /// The connection's window grew: send the bodies waiting for it.
        case resumeConnection
        /// The stream's window grew: send its body.
        case resumeStream
        /// Write `RST_STREAM` with this code; the stream is closed.
        case reset(HTTP2Wire.ErrorCode)
    }

    /// How a stream closed, which says what a later frame on it means (RFC 9113 §5.1).
    enum Closure: Equatable {
        /// The client reset it: a later frame other than `PRIORITY` or `RST_STREAM` is a stream
        /// error `STREAM_CLOSED`.
        case resetByClient
        /// Both sides ended it: a later `DATA` or `HEADERS` is a connection error
        /// `STREAM_CLOSED`.
        case ended
        /// The server reset or refused it, or ended its side first: later frames, which the
        /// client may have sent before it knew, are ignored.
        case closedByServer
    }

    /// What to do when the timer fires.
    enum TimerAction: Equatable {
        /// Nothing: the connection is closed.
        case none
        /// Schedule the timer again for this time.
        case schedule(NIODeadline)
        /// The connection timed out: it ends with `GOAWAY` `NO_ERROR`.
        case close
    }

    /// Frames that cost the server and give the client nothing, allowed per ``abuseWindow``.
    static let abuseLimit = 200
    static let abuseWindow = TimeAmount.seconds(30)
    /// Closed streams remembered; frames on streams closed longer ago are ignored.
    static let closedStreamMemory = 128
    /// Ranges of identifiers the client skipped remembered; HEADERS on older skipped ones are ignored.
    static let skippedRangeMemory = 16

    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: streams beyond it are refused.
    let maxConcurrentStreams: Int
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`, advertised to the client.
    let maxHeaderListSize: Int
    private(set) var lifecycle = Lifecycle.open
    /// The highest stream identifier the client has used.
    private(set) var lastStreamID: UInt32 = 0
    /// The last stream identifier of the `GOAWAY` the server sent, if any: a later one must not
    /// carry a higher one (RFC 9113 §6.8).
    private var goAwayLastStreamID: UInt32?
    /// The open streams, at most ``maxConcurrentStreams``: found by a scan, cheaper than hashing.
    private var streams: [HTTP2StreamState] = []
    /// The streams closed last (``closedStreamMemory``), the oldest overwritten first.
    private var closed: [(id: UInt32, closure: Closure)] = []
    private var nextClosed = 0
    /// Identifiers below ``lastStreamID`` the client never used (RFC 9113 §5.1.1), the last
    /// ``skippedRangeMemory`` ranges.
    private var skipped: [ClosedRange<UInt32>] = []
    /// Bytes the client's connection window lets the server send.
    private(set) var connectionWindow = HTTP2Wire.defaultWindow
    /// The client's `SETTINGS_INITIAL_WINDOW_SIZE`.
    private(set) var initialWindow = HTTP2Wire.defaultWindow
    /// The client's `SETTINGS_MAX_FRAME_SIZE`.
    private(set) var maxFrameSize = HTTP2Wire.defaultMaxFrameSize
    /// The next header block the server writes starts with a dynamic table size update.
    private var tableSizeUpdate = false
    private var abuseCount = 0
    private var abuseWindowStart: NIODeadline
    private let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    /// A stream was opened: the idle timeout applies instead of the header timeout.
    private var sawRequest = false
    /// When the connection times out, unless a relay is in progress.
    private(set) var deadline: NIODeadline

    /// A connection whose client preface has not come yet.
    /// - Parameters:
    ///   - maxConcurrentStreams: streams open at once beyond which a new one is refused.
    ///   - maxHeaderListSize: the header list size advertised to the client.
    ///   - headerTimeout: how long the connection may go without opening its first stream.
    ///   - idleTimeout: how long it may go without a read or body progress after that.
    ///   - now: the time the connection started.
    init(maxConcurrentStreams: Int, maxHeaderListSize: Int, headerTimeout: TimeAmount, idleTimeout: TimeAmount, now: NIODeadline) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxHeaderListSize = maxHeaderListSize
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.abuseWindowStart = now
        self.deadline = now + headerTimeout
    }

    /// The settings of the server's first `SETTINGS` frame.
    var localSettings: [(UInt16, UInt32)] {
        [
            (HTTP2Wire.Setting.maxConcurrentStreams, UInt32(clamping: self.maxConcurrentStreams)),
            (HTTP2Wire.Setting.maxHeaderListSize, UInt32(clamping: self.maxHeaderListSize)),
        ]
    }

    /// The number of open streams.
    var openStreams: Int { self.streams.count }

    /// Stream `id`'s state; nil when it is not open.
    func stream(_ id: UInt32) -> HTTP2StreamState? {
        self.index(of: id).map { self.streams[$0] }
    }

    // MARK: - Frames received

    /// A `HEADERS` frame (and its `CONTINUATION` frames) whose block decoded.
    mutating func receivedHeaders(
        on id: UInt32,
        endStream: Bool,
        dependsOnItself: Bool,
        now: @autoclosure () -> NIODeadline
    ) throws(ConnectionError) -> HeadersAction {
        if let index = self.index(of: id) {
            let request = self.streams[index].request
            switch request {
            case .complete:
                try self.resetStream(at: index, now: now())
                return .reset(.streamClosed)
            case .receiving, .dropping:
                // Trailers end the request body; a block that does not end the stream is
                // malformed (RFC 9113 §8.1).
                guard endStream else {
                    try self.resetStream(at: index, now: now())
                    return .reset(.protocolError)
                }
                self.streams[index].request = .complete
                return request == .receiving ? .requestEnded : .ignore
            }
        }
        guard id & 1 == 1 else { throw .init(code: .protocolError, reason: "HEADERS on stream \(id), a server stream") }
        guard id > self.lastStreamID else {
            switch self.closure(of: id) {
            case .resetByClient:
                try self.abused(now: now())
                return .reset(.streamClosed)
            case .ended:
                throw .init(code: .streamClosed, reason: "HEADERS on stream \(id), closed")
            case .closedByServer:
                return .ignore
            case nil:
                // A new stream's identifier must be above every one used before (RFC 9113 §5.1.1).
                guard !self.skipped.contains(where: { $0.contains(id) }) else {
                    throw .init(code: .protocolError, reason: "HEADERS on stream \(id), below the last stream \(self.lastStreamID)")
                }
                return .ignore
            }
        }
        let next = self.lastStreamID == 0 ? 1 : self.lastStreamID + 2
        if id > next { self.remember(skipped: next...(id - 2)) }
        self.lastStreamID = id
        guard self.lifecycle == .open, self.streams.count < self.maxConcurrentStreams, !dependsOnItself else {
            try self.abused(now: now())
            self.remember(id, .closedByServer)
            return .reset(dependsOnItself ? .protocolError : .refusedStream)
        }
        self.streams.append(HTTP2StreamState(id: id, request: endStream ? .complete : .receiving, sendWindow: self.initialWindow))
        self.sawRequest = true
        return .open(bodyFollows: !endStream)
    }

    /// A `DATA` frame of `flowControlled` bytes (padding included).
    mutating func receivedData(on id: UInt32, flowControlled: Int, endStream: Bool, now: @autoclosure () -> NIODeadline) throws(ConnectionError) -> DataAction {
        guard id <= self.lastStreamID else { throw .init(code: .protocolError, reason: "DATA on an idle stream") }
        guard flowControlled <= HTTP2Wire.defaultWindow else { throw .init(code: .flowControlError, reason: "DATA beyond the window") }
        // An empty DATA that does not end its stream costs the server and gives the client nothing.
        if flowControlled == 0 && !endStream { try self.abused(now: now()) }
        guard let index = self.index(of: id) else {
            switch self.closure(of: id) {
            case .resetByClient:
                try self.abused(now: now())
                return .reset(windowIncrement: flowControlled, .streamClosed)
            case .ended:
                throw .init(code: .streamClosed, reason: "DATA on stream \(id), closed")
            case .closedByServer, nil:
                return .drop(windowIncrement: flowControlled)
            }
        }
        switch self.streams[index].request {
        case .complete:
            // Still counted against the connection's window (RFC 9113 §6.9).
            try self.resetStream(at: index, now: now())
            return .reset(windowIncrement: flowControlled, .streamClosed)
        case .dropping:
            if endStream { self.streams[index].request = .complete }
            return .drop(windowIncrement: flowControlled)
        case .receiving:
            if endStream { self.streams[index].request = .complete }
            return .deliver(windowIncrement: flowControlled, streamIncrement: endStream ? 0 : flowControlled, endStream: endStream)
        }
    }

    /// A `PRIORITY` frame; priorities are not used.
    mutating func receivedPriority(on id: UInt32, dependsOnItself: Bool, now: @autoclosure () -> NIODeadline) throws(ConnectionError) -> PriorityAction {
        try self.abused(now: now())
        guard dependsOnItself else { return .none }
        try self.abused(now: now())
        if let index = self.index(of: id) { self.removeStream(at: index, .closedByServer) }
        return .reset(.protocolError)
    }

    /// An `RST_STREAM` frame; true when it closed an open stream.
    mutating func receivedRSTStream(on id: UInt32, now: @autoclosure () -> NIODeadline) throws(ConnectionError) -> Bool {
        guard id <= self.lastStreamID else { throw .init(code: .protocolError, reason: "RST_STREAM on an idle stream") }
        try self.abused(now: now())
        guard let index = self.index(of: id) else { return false }
        self.removeStream(at: index, .resetByClient)
        return true
    }

    /// A `SETTINGS` frame's payload, 6 bytes per setting. Then the server acknowledges it, and
    /// sends the bodies waiting for windows (the initial window may have grown).
    mutating func receivedSettings(_ payload: ByteBuffer, now: @autoclosure () -> NIODeadline) throws(ConnectionError) {
        try self.abused(now: now())
        var payload = payload
        while let id = payload.readInteger(as: UInt16.self), let value = payload.readInteger(as: UInt32.self) {
            switch id {
            case HTTP2Wire.Setting.headerTableSize:
                self.tableSizeUpdate = true
            case HTTP2Wire.Setting.enablePush:
                guard value <= 1 else { throw .init(code: .protocolError, reason: "SETTINGS_ENABLE_PUSH of \(value)") }
            case HTTP2Wire.Setting.initialWindowSize:
                guard value <= HTTP2Wire.maxWindow else { throw .init(code: .flowControlError, reason: "SETTINGS_INITIAL_WINDOW_SIZE of \(value)") }
                let delta = Int(value) - self.initialWindow
                self.initialWindow = Int(value)
                for index in self.streams.indices {
                    self.streams[index].sendWindow += delta
                    guard self.streams[index].sendWindow <= HTTP2Wire.maxWindow else {
                        throw .init(code: .flowControlError, reason: "a stream window over 2^31-1")
                    }
                }
            case HTTP2Wire.Setting.maxFrameSize:
                guard value >= 16384, value <= 16_777_215 else { throw .init(code: .protocolError, reason: "SETTINGS_MAX_FRAME_SIZE of \(value)") }
                self.maxFrameSize = Int(value)
            default:
                break
            }
        }
    }

    /// A `PING` frame (not an acknowledgement); the server acknowledges it.
    mutating func receivedPing(now: @autoclosure () -> NIODeadline) throws(ConnectionError) {
        try self.abused(now: now())
    }

    /// A `WINDOW_UPDATE` frame; `id` 0 is the connection's.
    mutating func receivedWindowUpdate(on id: UInt32, increment: Int, now: @autoclosure () -> NIODeadline) throws(ConnectionError) -> WindowUpdateAction {
        if id == 0 {
            guard increment > 0 else { throw .init(code: .protocolError, reason: "a WINDOW_UPDATE of 0") }
            self.connectionWindow += increment
            guard self.connectionWindow <= HTTP2Wire.maxWindow else { throw .init(code: .flowControlError, reason: "the connection window over 2^31-1") }
            return .resumeConnection
        }
        guard id <= self.lastStreamID else { throw .init(code: .protocolError, reason: "WINDOW_UPDATE on an idle stream") }
        guard let index = self.index(of: id) else {
            guard self.closure(of: id) == .resetByClient else { return .none }
            try self.abused(now: now())
            return .reset(.streamClosed)
        }
        guard increment > 0 else {
            try self.resetStream(at: index, now: now())
            return .reset(.protocolError)
        }
        self.streams[index].sendWindow += increment
        guard self.streams[index].sendWindow <= HTTP2Wire.maxWindow else {
            try self.resetStream(at: index, now: now())
            return .reset(.flowControlError)
        }
        return .resumeStream
    }

    /// A `GOAWAY` frame: the client opens no more streams; the open ones are still answered.
    mutating func receivedGoAway() {
        if self.lifecycle == .open { self.lifecycle = .quiescing }
    }

    // MARK: - The server's side

    /// The request of stream `id` was answered before its body ended: the rest is dropped.
    mutating func ignoreRequestBody(on id: UInt32) {
        guard let index = self.index(of: id), self.streams[index].request == .receiving else { return }
        self.streams[index].request = .dropping
    }

    /// Body bytes the windows let the server send on stream `id` now, in one frame.
    func sendableBytes(on id: UInt32) -> Int {
        guard let index = self.index(of: id) else { return 0 }
        return min(self.streams[index].sendWindow, self.connectionWindow, self.maxFrameSize)
    }

    /// Ends stream `id` with a last `DATA` frame of `count` bytes, if the windows and the frame
    /// size take it now: the windows are consumed and the stream is closed. False changes nothing.
    mutating func endStream(sending count: Int, on id: UInt32) -> Bool {
        guard let index = self.index(of: id), count <= min(self.streams[index].sendWindow, self.connectionWindow, self.maxFrameSize) else {
            return false
        }
        self.connectionWindow -= count
        self.removeStream(at: index, self.streams[index].request == .complete ? .ended : .closedByServer)
        return true
    }

    /// The server wrote `count` bytes of `DATA` on stream `id`.
    mutating func sent(_ count: Int, on id: UInt32) {
        self.connectionWindow -= count
        if let index = self.index(of: id) { self.streams[index].sendWindow -= count }
    }

    /// The server wrote its end of stream `id` (`END_STREAM`).
    mutating func sentEndStream(on id: UInt32) {
        guard let index = self.index(of: id) else { return }
        self.removeStream(at: index, self.streams[index].request == .complete ? .ended : .closedByServer)
    }

    /// The server reset stream `id` (`RST_STREAM`); nothing when the stream is not open.
    mutating func sentReset(on id: UInt32) {
        guard let index = self.index(of: id) else { return }
        self.removeStream(at: index, .closedByServer)
    }

    /// True once per change of the client's `SETTINGS_HEADER_TABLE_SIZE`: the next header block
    /// must start with a dynamic table size update (RFC 7541 §4.2).
    mutating func headerBlockNeedsTableSizeUpdate() -> Bool {
        defer { self.tableSizeUpdate = false }
        return self.tableSizeUpdate
    }

    /// Shutting down: the last stream identifier for a `GOAWAY` `NO_ERROR`; nil when the
    /// connection already quiesces or is closed.
    mutating func quiesce() -> UInt32? {
        guard self.lifecycle == .open else { return nil }
        self.lifecycle = .quiescing
        self.goAwayLastStreamID = self.lastStreamID
        return self.lastStreamID
    }

    /// A connection error (or a timeout): the last stream identifier for the closing `GOAWAY`;
    /// nil when the connection is already closed. Every stream is closed.
    mutating func connectionFailed() -> UInt32? {
        guard self.lifecycle != .closed else { return nil }
        self.lifecycle = .closed
        self.streams.removeAll()
        let lastStreamID = min(self.lastStreamID, self.goAwayLastStreamID ?? self.lastStreamID)
        self.goAwayLastStreamID = lastStreamID
        return lastStreamID
    }

    /// True when a quiescing connection may close now (no open stream, nothing left to write);
    /// the connection is then closed.
    mutating func closeIfDone(outputEmpty: Bool) -> Bool {
        guard self.lifecycle == .quiescing, self.streams.isEmpty, outputEmpty else { return false }
        self.lifecycle = .closed
        return true
    }

    /// The channel went away.
    mutating func channelInactive() {
        self.lifecycle = .closed
        self.streams.removeAll()
    }

    // MARK: - Deadlines

    /// A batch of reads ended: the deadline moves on.
    mutating func readCompleted(now: NIODeadline) {
        self.deadline = now + (self.sawRequest ? self.idleTimeout : self.headerTimeout)
    }

    /// A body streaming from the volume went on: the deadline moves on.
    mutating func bodyProgressed(now: NIODeadline) {
        self.deadline = now + self.idleTimeout
    }

    /// The timer fired; `relaying` when a response is relayed from upstream, which has its own
    /// timeouts.
    mutating func timerFired(now: NIODeadline, relaying: Bool) -> TimerAction {
        guard self.lifecycle != .closed else { return .none }
        if relaying { self.deadline = now + self.idleTimeout }
        guard relaying || now < self.deadline else { return .close }
        return .schedule(self.deadline)
    }

    // MARK: - Helpers

    private func index(of id: UInt32) -> Int? {
        self.streams.firstIndex { $0.id == id }
    }

    private mutating func removeStream(at index: Int, _ closure: Closure) {
        self.remember(self.streams[index].id, closure)
        self.streams.swapAt(index, self.streams.count - 1)
        self.streams.removeLast()
    }

    /// A stream error: the stream is closed, and its `RST_STREAM` counted against ``abuseLimit``.
    private mutating func resetStream(at index: Int, now: NIODeadline) throws(ConnectionError) {
        try self.abused(now: now)
        self.removeStream(at: index, .closedByServer)
    }

    private mutating func remember(_ id: UInt32, _ closure: Closure) {
        guard self.closed.count == Self.closedStreamMemory else {
            self.closed.append((id, closure))
            return
        }
        self.closed[self.nextClosed] = (id, closure)
        self.nextClosed = (self.nextClosed + 1) % Self.closedStreamMemory
    }

    private mutating func remember(skipped range: ClosedRange<UInt32>) {
        if self.skipped.count == Self.skippedRangeMemory { self.skipped.removeFirst() }
        self.skipped.append(range)
    }

    /// How stream `id`, not open, closed; nil when it was never opened or closed too long ago.
    private func closure(of id: UInt32) -> Closure? {
        self.closed.first { $0.id == id }?.closure
    }

    /// Counts a frame against ``abuseLimit``.
    private mutating func abused(now: NIODeadline) throws(ConnectionError) {
        if now - self.abuseWindowStart > Self.abuseWindow {
            self.abuseWindowStart = now
            self.abuseCount = 0
        }
        self.abuseCount += 1
        guard self.abuseCount <= Self.abuseLimit else {
            throw .init(code: .enhanceYourCalm, reason: "more than \(Self.abuseLimit) resets, refused streams or control frames in \(Self.abuseWindow.nanoseconds / 1_000_000_000) s")
        }
    }
}
