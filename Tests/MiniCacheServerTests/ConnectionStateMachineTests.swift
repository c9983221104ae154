import NIOCore
import Testing

@testable import MiniCacheServer

/// Every transition of a connection's life without a channel: events in, actions out, times
/// passed in.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static let header = TimeAmount.seconds(10)
    static let idle = TimeAmount.seconds(60)

    static func at(_ seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(seconds) * 1_000_000_000) }

    /// A machine whose connection became active at t = 0.
    static func active() -> Machine {
        var machine = Machine(headerTimeout: header, idleTimeout: idle)
        #expect(machine.channelActive(now: at(0)) == .schedule(at(10)))
        return machine
    }

    /// A machine that answered one request at t = 1 and waits for the next.
    static func waiting() -> Machine {
        var machine = active()
        #expect(machine.bytesReceived() == .answer)
        #expect(machine.startAnswering() == true)
        machine.responseWritten(keepAlive: true)
        _ = machine.stopAnswering(inputEmpty: true, now: at(1))
        #expect(machine.channelReadComplete() == .flush)
        return machine
    }

    @Test("a new connection must send a request head within the header timeout")
    func headerDeadlineAtStart() {
        var machine = Self.active()
        #expect(machine.deadlineKind == .header)
        #expect(machine.timerFired(now: Self.at(10), hasBufferedInput: false) == .close)
        #expect(machine.flush() == .flushAndClose)
        #expect(machine.lifecycle == .closed)
    }

    @Test("requests are answered in a loop that does not start again from inside itself")
    func answeringIsNotReentered() {
        var machine = Self.active()
        #expect(machine.bytesReceived() == .answer)
        #expect(machine.startAnswering() == true)
        #expect(machine.startAnswering() == false)
        #expect(machine.mayAnswer)
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(1))
        #expect(machine.startAnswering() == true)
    }

    @Test("answering all requests sets the idle deadline; the earlier timer is kept and moved on when it fires")
    func idleDeadline() {
        var machine = Self.active()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.responseWritten(keepAlive: true)
        // The timer (header, t = 10) comes before the idle deadline (t = 61): not rescheduled.
        #expect(machine.stopAnswering(inputEmpty: true, now: Self.at(1)) == .none)
        #expect(machine.deadlineKind == .idle)
        #expect(machine.timerFired(now: Self.at(10), hasBufferedInput: false) == .schedule(Self.at(61)))
        #expect(machine.timerFired(now: Self.at(61), hasBufferedInput: false) == .close)
        #expect(machine.flush() == .flushAndClose)
    }

    @Test("a partial request head arms the header deadline once; when it passes the answer is 408")
    func partialHeadTimesOut() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        // The timer (t = 10) comes first: it is moved on when it fires.
        #expect(machine.requestIncomplete(now: Self.at(2)) == .none)
        #expect(machine.requestIncomplete(now: Self.at(3)) == .none)
        #expect(machine.stopAnswering(inputEmpty: false, now: Self.at(3)) == .none)
        #expect(machine.deadlineKind == .header)
        #expect(machine.timerFired(now: Self.at(10), hasBufferedInput: true) == .schedule(Self.at(12)))
        #expect(machine.timerFired(now: Self.at(12), hasBufferedInput: true) == .requestTimeout)
        machine.responseWritten(keepAlive: false)
        #expect(machine.flush() == .flushAndClose)
    }

    @Test("a deadline earlier than the timer schedules the timer anew")
    func earlierDeadlineReschedules() {
        var machine = Self.waiting()
        #expect(machine.timerFired(now: Self.at(10), hasBufferedInput: false) == .schedule(Self.at(61)))
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        #expect(machine.requestIncomplete(now: Self.at(20)) == .schedule(Self.at(30)))
        #expect(machine.timerAt == Self.at(30))
    }

    @Test("Connection: close: the output is written, then the connection closes and drops what comes")
    func closeAfterResponse() {
        var machine = Self.active()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        #expect(machine.keepsAlive(true))
        machine.responseWritten(keepAlive: false)
        #expect(!machine.mayAnswer)
        #expect(machine.stopAnswering(inputEmpty: false, now: Self.at(1)) == .none)
        #expect(machine.lifecycle == .closing)
        #expect(machine.bytesReceived() == .drop)
        #expect(machine.channelReadComplete() == .flushAndClose)
        #expect(machine.lifecycle == .closed)
        #expect(machine.readRequested() == false)
    }

    @Test("a streamed body holds reads and pipelined requests until it is handed over")
    func streamingHoldsReads() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.responseWritten(keepAlive: true)
        _ = machine.streamStarted(now: Self.at(2))
        #expect(machine.activity == .streaming)
        #expect(machine.deadlineKind == .stall)
        #expect(!machine.mayAnswer)
        _ = machine.stopAnswering(inputEmpty: false, now: Self.at(2))
        #expect(machine.channelReadComplete() == .flush)
        #expect(machine.readRequested() == false)
        #expect(machine.bytesReceived() == .buffer)
        #expect(machine.channelReadComplete() == .flush)
        #expect(machine.responseHandedOver() == .answerNext)
        #expect(machine.startAnswering() == true)
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(3))
        let resumed = machine.resumed()
        #expect(resumed.flush)
        #expect(resumed.read)
        #expect(!machine.readPending)
    }

    @Test("a body handed over inside the request loop lets the loop go on by itself")
    func handoverInsideTheLoop() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        _ = machine.streamStarted(now: Self.at(2))
        #expect(machine.responseHandedOver() == .none)
        #expect(machine.mayAnswer)
    }

    @Test("the stall deadline moves with progress; a client that stops reading is closed at once")
    func stalledClient() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        #expect(machine.streamStarted(now: Self.at(2)) == .none)
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(2))
        machine.streamProgressed(now: Self.at(30))
        #expect(machine.timerFired(now: Self.at(61), hasBufferedInput: false) == .schedule(Self.at(90)))
        #expect(machine.timerFired(now: Self.at(90), hasBufferedInput: false) == .closeNow)
        #expect(machine.lifecycle == .closed)
        #expect(machine.responseHandedOver() == .none)
    }

    @Test("a relayed response has no deadline of its own; the connection's timer stops until it ends")
    func relayHasNoDeadline() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.relayStarted()
        #expect(machine.activity == .relaying)
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(2))
        #expect(machine.timerFired(now: Self.at(500), hasBufferedInput: false) == .none)
        #expect(machine.timerAt == nil)
        machine.responseWritten(keepAlive: true)
        #expect(machine.responseHandedOver() == .answerNext)
        _ = machine.startAnswering()
        #expect(machine.stopAnswering(inputEmpty: true, now: Self.at(501)) == .schedule(Self.at(561)))
    }

    @Test("a client behind a relayed body must keep taking parts of it: the stall deadline moves with progress, stops once it caught up, and closes it when it stops")
    func relayBehindStalls() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.relayStarted()
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(2))
        // The idle timer of the request before (t = 61) is still set and comes first.
        #expect(machine.relayFellBehind(now: Self.at(3)) == .none)
        machine.relayProgressed(now: Self.at(30))
        #expect(machine.timerFired(now: Self.at(61), hasBufferedInput: false) == .schedule(Self.at(90)))
        machine.relayCaughtUp()
        #expect(machine.timerFired(now: Self.at(90), hasBufferedInput: false) == .none)
        #expect(machine.relayFellBehind(now: Self.at(100)) == .schedule(Self.at(160)))
        #expect(machine.timerFired(now: Self.at(160), hasBufferedInput: false) == .closeNow)
        #expect(machine.lifecycle == .closed)
    }

    @Test("a relay cut short closes the connection once handed over")
    func relayCutShort() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.relayStarted()
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(2))
        machine.responseWritten(keepAlive: false)
        #expect(machine.flush() == .flush)
        #expect(machine.responseHandedOver() == .answerNext)
        _ = machine.startAnswering()
        #expect(!machine.mayAnswer)
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(3))
        #expect(machine.flush() == .flushAndClose)
    }

    @Test("shutdown closes an idle connection at once")
    func quiesceIdle() {
        var machine = Self.waiting()
        #expect(machine.quiesce(hasBufferedInput: false) == .flushAndClose)
        #expect(machine.lifecycle == .closed)
    }

    @Test("shutdown in the middle of a request: it is answered with Connection: close, then the connection closes")
    func quiesceMidRequest() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        _ = machine.requestIncomplete(now: Self.at(2))
        _ = machine.stopAnswering(inputEmpty: false, now: Self.at(2))
        _ = machine.channelReadComplete()
        #expect(machine.quiesce(hasBufferedInput: true) == nil)
        #expect(machine.lifecycle == .quiescing)
        #expect(machine.bytesReceived() == .answer)
        _ = machine.startAnswering()
        #expect(!machine.keepsAlive(true))
        machine.responseWritten(keepAlive: false)
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(3))
        #expect(machine.channelReadComplete() == .flushAndClose)
    }

    @Test("shutdown during a streamed body: the body finishes, then the connection closes")
    func quiesceWhileStreaming() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.responseWritten(keepAlive: true)
        _ = machine.streamStarted(now: Self.at(2))
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(2))
        _ = machine.channelReadComplete()
        #expect(machine.quiesce(hasBufferedInput: false) == nil)
        #expect(machine.responseHandedOver() == .answerNext)
        _ = machine.startAnswering()
        _ = machine.stopAnswering(inputEmpty: true, now: Self.at(3))
        #expect(machine.lifecycle == .closing)
        #expect(machine.flush() == .flushAndClose)
    }

    @Test("a second shutdown or one after Connection: close changes nothing")
    func quiesceOnlyOnce() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        machine.responseWritten(keepAlive: false)
        #expect(machine.quiesce(hasBufferedInput: false) == nil)
        #expect(machine.lifecycle == .closing)
    }

    @Test("a connection that goes away cancels its relay and ignores its timer")
    func inactive() {
        var relaying = Self.waiting()
        _ = relaying.bytesReceived()
        _ = relaying.startAnswering()
        relaying.relayStarted()
        #expect(relaying.channelInactive() == true)
        #expect(relaying.timerFired(now: Self.at(100), hasBufferedInput: false) == .none)
        var idle = Self.waiting()
        #expect(idle.channelInactive() == false)
        #expect(idle.bytesReceived() == .drop)
    }

    @Test("a read asked for while idle goes through at once")
    func readWhileIdle() {
        var machine = Self.waiting()
        #expect(machine.readRequested() == true)
        #expect(!machine.readPending)
    }

    @Test("a failed write or read closes now: no more answers, no timer")
    func closeNow() {
        var machine = Self.waiting()
        _ = machine.bytesReceived()
        _ = machine.startAnswering()
        _ = machine.streamStarted(now: Self.at(2))
        machine.closeNow()
        #expect(machine.activity == .reading)
        #expect(!machine.mayAnswer)
        #expect(machine.timerFired(now: Self.at(100), hasBufferedInput: false) == .none)
        #expect(machine.flush() == .flush)
    }
}
