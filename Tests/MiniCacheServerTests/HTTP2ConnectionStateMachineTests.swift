import NIOCore
import Testing

@testable import MiniCacheServer

/// The protocol rules of an HTTP/2 server connection without a channel: frames in, actions out,
/// times passed in.
@Suite struct HTTP2ConnectionStateMachineTests {
    typealias Machine = HTTP2ConnectionStateMachine
    typealias ErrorCode = HTTP2Wire.ErrorCode

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func machine(maxConcurrentStreams: Int = 100) -> Machine {
        Machine(
            maxConcurrentStreams: maxConcurrentStreams,
            maxHeaderListSize: 16384,
            headerTimeout: .seconds(10),
            idleTimeout: .seconds(60),
            now: Self.start
        )
    }

    /// The code of the connection error `body` throws; nil when it throws none.
    static func connectionError(_ body: () throws(Machine.ConnectionError) -> Void) -> ErrorCode? {
        do {
            try body()
            return nil
        } catch {
            return error.code
        }
    }

    static func settings(_ pairs: [(UInt16, UInt32)]) -> ByteBuffer {
        var payload = ByteBuffer()
        for (id, value) in pairs {
            payload.writeInteger(id)
            payload.writeInteger(value)
        }
        return payload
    }

    /// Opens stream `id` with a request whose body follows unless `endStream`.
    static func open(_ machine: inout Machine, _ id: UInt32, endStream: Bool = true) throws {
        let action = try machine.receivedHeaders(on: id, endStream: endStream, dependsOnItself: false, now: Self.start)
        #expect(action == .open(bodyFollows: !endStream))
    }

    // MARK: - Stream identifiers

    @Test("a client stream has an odd identifier: HEADERS on an even one is a connection error PROTOCOL_ERROR (RFC 9113 §5.1.1)")
    func evenStreamIsAConnectionError() {
        var machine = Self.machine()
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            _ = try machine.receivedHeaders(on: 2, endStream: true, dependsOnItself: false, now: Self.start)
        }
        #expect(code == .protocolError)
    }

    @Test("new streams need rising identifiers: HEADERS on one the client skipped is a connection error PROTOCOL_ERROR (RFC 9113 §5.1.1)")
    func streamIdentifiersRise() throws {
        var machine = Self.machine()
        try Self.open(&machine, 5)
        #expect(machine.lastStreamID == 5)
        for skipped: UInt32 in [1, 3] {
            var copy = machine
            let code = Self.connectionError { () throws(Machine.ConnectionError) in
                _ = try copy.receivedHeaders(on: skipped, endStream: true, dependsOnItself: false, now: Self.start)
            }
            #expect(code == .protocolError, "stream \(skipped)")
        }
        try Self.open(&machine, 7)
        #expect(machine.lastStreamID == 7)
        #expect(machine.openStreams == 2)
    }

    @Test("DATA, WINDOW_UPDATE and RST_STREAM on an idle stream are connection errors PROTOCOL_ERROR (RFC 9113 §5.1)")
    func framesOnIdleStreams() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        for frame in ["DATA", "WINDOW_UPDATE", "RST_STREAM"] {
            var copy = machine
            let code = Self.connectionError { () throws(Machine.ConnectionError) in
                switch frame {
                case "DATA": _ = try copy.receivedData(on: 3, flowControlled: 1, endStream: false, now: Self.start)
                case "WINDOW_UPDATE": _ = try copy.receivedWindowUpdate(on: 3, increment: 1, now: Self.start)
                default: _ = try copy.receivedRSTStream(on: 3, now: Self.start)
                }
            }
            #expect(code == .protocolError, "\(frame)")
        }
        // On a closed stream (at most the last identifier) they are not.
        machine.sentReset(on: 1)
        #expect(try machine.receivedData(on: 1, flowControlled: 10, endStream: false, now: Self.start) == .drop(windowIncrement: 10))
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 1, now: Self.start) == .none)
        #expect(try machine.receivedRSTStream(on: 1, now: Self.start) == false)
    }

    // MARK: - Limits

    @Test("a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS is refused with REFUSED_STREAM; once one closes, a new one opens (RFC 9113 §5.1.2)")
    func concurrentStreamLimit() throws {
        var machine = Self.machine(maxConcurrentStreams: 2)
        #expect(machine.localSettings.map(\.0) == [HTTP2Wire.Setting.maxConcurrentStreams, HTTP2Wire.Setting.maxHeaderListSize])
        #expect(machine.localSettings.map(\.1) == [2, 16384])
        try Self.open(&machine, 1)
        try Self.open(&machine, 3)
        #expect(try machine.receivedHeaders(on: 5, endStream: true, dependsOnItself: false, now: Self.start) == .reset(.refusedStream))
        #expect(machine.openStreams == 2)
        // The refused stream used its identifier.
        #expect(machine.lastStreamID == 5)
        #expect(try machine.receivedRSTStream(on: 1, now: Self.start) == true)
        try Self.open(&machine, 7)
        #expect(machine.openStreams == 2)
    }

    @Test("a stream that depends on itself is a stream error PROTOCOL_ERROR (RFC 9113 §5.3.1)")
    func selfDependency() throws {
        var machine = Self.machine()
        #expect(try machine.receivedHeaders(on: 1, endStream: true, dependsOnItself: true, now: Self.start) == .reset(.protocolError))
        #expect(machine.stream(1) == nil)
        try Self.open(&machine, 3)
        #expect(try machine.receivedPriority(on: 3, dependsOnItself: false, now: Self.start) == .none)
        #expect(try machine.receivedPriority(on: 3, dependsOnItself: true, now: Self.start) == .reset(.protocolError))
        #expect(machine.stream(3) == nil)
    }

    @Test("more than abuseLimit resets in abuseWindow end the connection with ENHANCE_YOUR_CALM; after the window the count starts again")
    func rapidResetLimit() throws {
        var machine = Self.machine()
        var id: UInt32 = 1
        for _ in 0..<Machine.abuseLimit {
            try Self.open(&machine, id)
            #expect(try machine.receivedRSTStream(on: id, now: Self.start) == true)
            id += 2
        }
        var late = machine
        try Self.open(&machine, id)
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            _ = try machine.receivedRSTStream(on: id, now: Self.start + .seconds(29))
        }
        #expect(code == .enhanceYourCalm)
        try Self.open(&late, id)
        #expect(try late.receivedRSTStream(on: id, now: Self.start + .seconds(31)) == true)
    }

    // MARK: - Flow control

    @Test("the bytes the server may send are the least of the stream's window, the connection's and the frame size (RFC 9113 §5.2, §6.9)")
    func sendWindows() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        try Self.open(&machine, 3)
        #expect(machine.sendableBytes(on: 1) == HTTP2Wire.defaultMaxFrameSize)
        try machine.receivedSettings(Self.settings([(HTTP2Wire.Setting.maxFrameSize, 1 << 20)]), now: Self.start)
        #expect(machine.sendableBytes(on: 1) == 65535)
        machine.sent(65000, on: 1)
        #expect(machine.sendableBytes(on: 1) == 535)
        #expect(machine.sendableBytes(on: 3) == 535)
        machine.sent(535, on: 3)
        #expect(machine.connectionWindow == 0)
        #expect(machine.sendableBytes(on: 3) == 0)
        #expect(try machine.receivedWindowUpdate(on: 0, increment: 100_000, now: Self.start) == .resumeConnection)
        #expect(machine.sendableBytes(on: 1) == 535)
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 1000, now: Self.start) == .resumeStream)
        #expect(machine.sendableBytes(on: 1) == 1535)
        #expect(machine.sendableBytes(on: 5) == 0)
        // A last frame that fits ends the stream; one that does not changes nothing.
        #expect(machine.endStream(sending: 1536, on: 1) == false)
        #expect(machine.stream(1)?.sendWindow == 1535)
        #expect(machine.endStream(sending: 1535, on: 1) == true)
        #expect(machine.stream(1) == nil)
        #expect(machine.connectionWindow == 100_000 - 1535)
    }

    @Test("a window over 2^31-1 is a FLOW_CONTROL_ERROR: the connection's ends it, a stream's resets the stream (RFC 9113 §6.9.1)")
    func windowOverflow() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        let room = HTTP2Wire.maxWindow - HTTP2Wire.defaultWindow
        #expect(try machine.receivedWindowUpdate(on: 1, increment: room, now: Self.start) == .resumeStream)
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 1, now: Self.start) == .reset(.flowControlError))
        #expect(machine.stream(1) == nil)
        #expect(try machine.receivedWindowUpdate(on: 0, increment: room, now: Self.start) == .resumeConnection)
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            _ = try machine.receivedWindowUpdate(on: 0, increment: 1, now: Self.start)
        }
        #expect(code == .flowControlError)
    }

    @Test("a WINDOW_UPDATE of 0 is a stream error on a stream, a connection error on the connection; PROTOCOL_ERROR (RFC 9113 §6.9)")
    func zeroWindowUpdate() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 0, now: Self.start) == .reset(.protocolError))
        #expect(machine.openStreams == 0)
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            _ = try machine.receivedWindowUpdate(on: 0, increment: 0, now: Self.start)
        }
        #expect(code == .protocolError)
    }

    @Test("SETTINGS_INITIAL_WINDOW_SIZE moves every open stream's window by the difference, below 0 too, and new streams start from it (RFC 9113 §6.9.2)")
    func initialWindowChange() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        machine.sent(1000, on: 1)
        try machine.receivedSettings(Self.settings([(HTTP2Wire.Setting.initialWindowSize, 500)]), now: Self.start)
        #expect(machine.stream(1)?.sendWindow == 500 - 1000)
        #expect(machine.sendableBytes(on: 1) < 0)
        try Self.open(&machine, 3)
        #expect(machine.stream(3)?.sendWindow == 500)
        try machine.receivedSettings(Self.settings([(HTTP2Wire.Setting.initialWindowSize, 2000)]), now: Self.start)
        #expect(machine.stream(1)?.sendWindow == 1000)
        #expect(machine.stream(3)?.sendWindow == 2000)
    }

    @Test(
        "SETTINGS values out of range are connection errors (RFC 9113 §6.5.2, §6.9.2)",
        arguments: [
            (HTTP2Wire.Setting.enablePush, UInt32(2), ErrorCode.protocolError),
            (HTTP2Wire.Setting.initialWindowSize, UInt32(1) << 31, ErrorCode.flowControlError),
            (HTTP2Wire.Setting.maxFrameSize, UInt32(16383), ErrorCode.protocolError),
            (HTTP2Wire.Setting.maxFrameSize, UInt32(1) << 24, ErrorCode.protocolError),
        ]
    )
    func settingsOutOfRange(setting: UInt16, value: UInt32, code: ErrorCode) {
        var machine = Self.machine()
        let thrown = Self.connectionError { () throws(Machine.ConnectionError) in
            try machine.receivedSettings(Self.settings([(setting, value)]), now: Self.start)
        }
        #expect(thrown == code)
    }

    @Test("a SETTINGS_INITIAL_WINDOW_SIZE that takes an open stream's window over 2^31-1 is a connection error FLOW_CONTROL_ERROR (RFC 9113 §6.9.2)")
    func initialWindowOverflow() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        _ = try machine.receivedWindowUpdate(on: 1, increment: 1000, now: Self.start)
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            try machine.receivedSettings(Self.settings([(HTTP2Wire.Setting.initialWindowSize, UInt32(HTTP2Wire.maxWindow))]), now: Self.start)
        }
        #expect(code == .flowControlError)
    }

    @Test("SETTINGS_HEADER_TABLE_SIZE asks for one dynamic table size update, at the start of the next header block only (RFC 7541 §4.2)")
    func headerTableSizeUpdate() throws {
        var machine = Self.machine()
        #expect(machine.headerBlockNeedsTableSizeUpdate() == false)
        try machine.receivedSettings(Self.settings([(HTTP2Wire.Setting.headerTableSize, 0), (0x99, 7)]), now: Self.start)
        #expect(machine.headerBlockNeedsTableSizeUpdate() == true)
        #expect(machine.headerBlockNeedsTableSizeUpdate() == false)
    }

    @Test("SETTINGS and PING floods beyond abuseLimit end the connection with ENHANCE_YOUR_CALM")
    func controlFrameFlood() throws {
        var machine = Self.machine()
        for _ in 0..<(Machine.abuseLimit / 2) {
            try machine.receivedSettings(ByteBuffer(), now: Self.start)
            try machine.receivedPing(now: Self.start)
        }
        let code = Self.connectionError { () throws(Machine.ConnectionError) in try machine.receivedPing(now: Self.start) }
        #expect(code == .enhanceYourCalm)
    }

    // MARK: - Request bodies and stream states

    @Test("a request body's DATA reopens both windows, except on the frame that ends the stream, which ends the request")
    func requestBody() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1, endStream: false)
        #expect(try machine.receivedData(on: 1, flowControlled: 100, endStream: false, now: Self.start) == .deliver(windowIncrement: 100, streamIncrement: 100, endStream: false))
        #expect(try machine.receivedData(on: 1, flowControlled: 50, endStream: true, now: Self.start) == .deliver(windowIncrement: 50, streamIncrement: 0, endStream: true))
        #expect(machine.stream(1)?.request == .complete)
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            _ = try machine.receivedData(on: 1, flowControlled: HTTP2Wire.defaultWindow + 1, endStream: false, now: Self.start)
        }
        #expect(code == .flowControlError)
    }

    @Test("trailers end a request's body; a second header block that does not end the stream is a stream error PROTOCOL_ERROR (RFC 9113 §8.1)")
    func trailers() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1, endStream: false)
        #expect(try machine.receivedHeaders(on: 1, endStream: true, dependsOnItself: false, now: Self.start) == .requestEnded)
        try Self.open(&machine, 3, endStream: false)
        #expect(try machine.receivedHeaders(on: 3, endStream: false, dependsOnItself: false, now: Self.start) == .reset(.protocolError))
        #expect(machine.stream(3) == nil)
    }

    @Test("DATA or HEADERS after the client's END_STREAM are stream errors STREAM_CLOSED; the DATA still reopens the connection's window (RFC 9113 §5.1, §6.9)")
    func halfClosedRemote() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        #expect(machine.stream(1)?.request == .complete)
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 10, now: Self.start) == .resumeStream)
        #expect(try machine.receivedData(on: 1, flowControlled: 10, endStream: false, now: Self.start) == .reset(windowIncrement: 10, .streamClosed))
        #expect(machine.stream(1) == nil)
        try Self.open(&machine, 3, endStream: false)
        _ = try machine.receivedData(on: 3, flowControlled: 0, endStream: true, now: Self.start)
        #expect(try machine.receivedHeaders(on: 3, endStream: true, dependsOnItself: false, now: Self.start) == .reset(.streamClosed))
    }

    @Test("the body of a request answered before it ended is dropped, its trailers too; an empty DATA without END_STREAM counts against the abuse limit")
    func droppedBody() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1, endStream: false)
        machine.ignoreRequestBody(on: 1)
        #expect(try machine.receivedData(on: 1, flowControlled: 30, endStream: false, now: Self.start) == .drop(windowIncrement: 30))
        #expect(try machine.receivedHeaders(on: 1, endStream: true, dependsOnItself: false, now: Self.start) == .ignore)
        #expect(machine.stream(1)?.request == .complete)
        machine.sentReset(on: 1)
        for _ in 0..<Machine.abuseLimit {
            #expect(try machine.receivedData(on: 1, flowControlled: 0, endStream: false, now: Self.start) == .drop(windowIncrement: 0))
        }
        let code = Self.connectionError { () throws(Machine.ConnectionError) in
            _ = try machine.receivedData(on: 1, flowControlled: 0, endStream: false, now: Self.start)
        }
        #expect(code == .enhanceYourCalm)
    }

    @Test("after the client's RST_STREAM, HEADERS, DATA and WINDOW_UPDATE on the stream are stream errors STREAM_CLOSED; RST_STREAM and PRIORITY are not (RFC 9113 §5.1, §5.4.2)")
    func framesAfterClientReset() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1, endStream: false)
        #expect(try machine.receivedRSTStream(on: 1, now: Self.start) == true)
        #expect(try machine.receivedData(on: 1, flowControlled: 8, endStream: false, now: Self.start) == .reset(windowIncrement: 8, .streamClosed))
        #expect(try machine.receivedHeaders(on: 1, endStream: true, dependsOnItself: false, now: Self.start) == .reset(.streamClosed))
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 1, now: Self.start) == .reset(.streamClosed))
        #expect(try machine.receivedRSTStream(on: 1, now: Self.start) == false)
        #expect(try machine.receivedPriority(on: 1, dependsOnItself: false, now: Self.start) == .none)
    }

    @Test("after both sides ended a stream, DATA or HEADERS on it are a connection error STREAM_CLOSED; WINDOW_UPDATE and RST_STREAM are not (RFC 9113 §5.1)")
    func framesAfterBothEnded() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        machine.sentEndStream(on: 1)
        #expect(try machine.receivedWindowUpdate(on: 1, increment: 1, now: Self.start) == .none)
        #expect(try machine.receivedRSTStream(on: 1, now: Self.start) == false)
        for frame in ["DATA", "HEADERS"] {
            var copy = machine
            let code = Self.connectionError { () throws(Machine.ConnectionError) in
                if frame == "DATA" {
                    _ = try copy.receivedData(on: 1, flowControlled: 1, endStream: true, now: Self.start)
                } else {
                    _ = try copy.receivedHeaders(on: 1, endStream: true, dependsOnItself: false, now: Self.start)
                }
            }
            #expect(code == .streamClosed, "\(frame)")
        }
    }

    @Test("frames on a stream the server reset, refused or ended first are ignored: the client may have sent them before it knew (RFC 9113 §5.1)")
    func framesAfterServerClosed() throws {
        var machine = Self.machine(maxConcurrentStreams: 2)
        try Self.open(&machine, 1, endStream: false)
        machine.sentEndStream(on: 1)
        try Self.open(&machine, 3, endStream: false)
        machine.sentReset(on: 3)
        try Self.open(&machine, 5)
        try Self.open(&machine, 7)
        #expect(try machine.receivedHeaders(on: 9, endStream: false, dependsOnItself: false, now: Self.start) == .reset(.refusedStream))
        for id: UInt32 in [1, 3, 9] {
            #expect(try machine.receivedData(on: id, flowControlled: 4, endStream: false, now: Self.start) == .drop(windowIncrement: 4))
            #expect(try machine.receivedHeaders(on: id, endStream: true, dependsOnItself: false, now: Self.start) == .ignore)
        }
    }

    @Test("closed streams are remembered for closedStreamMemory closures; frames on older ones are ignored")
    func closedStreamsForgotten() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        _ = try machine.receivedRSTStream(on: 1, now: Self.start)
        var id: UInt32 = 3
        for _ in 1..<Machine.closedStreamMemory {
            try Self.open(&machine, id)
            machine.sentEndStream(on: id)
            id += 2
        }
        #expect(try machine.receivedData(on: 1, flowControlled: 1, endStream: false, now: Self.start) == .reset(windowIncrement: 1, .streamClosed))
        try Self.open(&machine, id)
        machine.sentEndStream(on: id)
        #expect(try machine.receivedData(on: 1, flowControlled: 1, endStream: false, now: Self.start) == .drop(windowIncrement: 1))
    }

    // MARK: - GOAWAY

    @Test("on shutdown GOAWAY carries the last stream identifier; later streams are refused, and a later GOAWAY never carries a higher one (RFC 9113 §6.8)")
    func goAwayLastStreamID() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        try Self.open(&machine, 3)
        #expect(machine.quiesce() == 3)
        #expect(machine.quiesce() == nil)
        #expect(machine.lifecycle == .quiescing)
        #expect(try machine.receivedHeaders(on: 5, endStream: true, dependsOnItself: false, now: Self.start) == .reset(.refusedStream))
        // The refused stream's DATA, sent before its client saw the reset, is no idle stream's.
        #expect(try machine.receivedData(on: 5, flowControlled: 5, endStream: true, now: Self.start) == .drop(windowIncrement: 5))
        #expect(machine.connectionFailed() == 3)
        #expect(machine.connectionFailed() == nil)
        #expect(machine.openStreams == 0)
    }

    @Test("a connection error's GOAWAY carries the highest stream identifier the client used")
    func goAwayOnError() throws {
        var machine = Self.machine()
        try Self.open(&machine, 7)
        #expect(machine.connectionFailed() == 7)
        #expect(machine.lifecycle == .closed)
    }

    @Test("after the client's GOAWAY new streams are refused and the connection closes once its streams are done and its output written")
    func clientGoAway() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        #expect(machine.closeIfDone(outputEmpty: true) == false)
        machine.receivedGoAway()
        #expect(machine.lifecycle == .quiescing)
        #expect(machine.quiesce() == nil)
        #expect(try machine.receivedHeaders(on: 3, endStream: true, dependsOnItself: false, now: Self.start) == .reset(.refusedStream))
        #expect(machine.closeIfDone(outputEmpty: true) == false)
        machine.sentEndStream(on: 1)
        #expect(machine.closeIfDone(outputEmpty: false) == false)
        #expect(machine.closeIfDone(outputEmpty: true) == true)
        #expect(machine.lifecycle == .closed)
    }

    // MARK: - Timeouts

    @Test("a connection must open a stream within the header timeout, even if it keeps sending other frames")
    func headerTimeout() throws {
        var machine = Self.machine()
        #expect(machine.deadline == Self.start + .seconds(10))
        #expect(machine.timerFired(now: Self.start + .seconds(5), relaying: false) == .schedule(Self.start + .seconds(10)))
        try machine.receivedPing(now: Self.start + .seconds(6))
        machine.readCompleted(now: Self.start + .seconds(6))
        #expect(machine.deadline == Self.start + .seconds(16))
        #expect(machine.timerFired(now: Self.start + .seconds(16), relaying: false) == .close)
    }

    @Test("after its first stream a connection lives while it reads within the idle timeout or a volume body makes progress")
    func idleTimeout() throws {
        var machine = Self.machine()
        try Self.open(&machine, 1)
        machine.readCompleted(now: Self.start + .seconds(1))
        #expect(machine.deadline == Self.start + .seconds(61))
        #expect(machine.timerFired(now: Self.start + .seconds(10), relaying: false) == .schedule(Self.start + .seconds(61)))
        machine.bodyProgressed(now: Self.start + .seconds(50))
        #expect(machine.timerFired(now: Self.start + .seconds(61), relaying: false) == .schedule(Self.start + .seconds(110)))
        #expect(machine.timerFired(now: Self.start + .seconds(110), relaying: false) == .close)
    }

    @Test("a relayed response keeps the connection (upstream has its own timeouts); a closed connection's timer does nothing")
    func relayKeepsTheConnection() throws {
        var machine = Self.machine()
        #expect(machine.timerFired(now: Self.start + .seconds(10), relaying: true) == .schedule(Self.start + .seconds(70)))
        #expect(machine.timerFired(now: Self.start + .seconds(70), relaying: false) == .close)
        _ = machine.connectionFailed()
        #expect(machine.timerFired(now: Self.start + .seconds(70), relaying: false) == .none)
    }
}
