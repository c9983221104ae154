import HTTPToolkit
import NIOCore
import NIOHTTP1
import Synchronization

/// Turns an origin response into the events a viewer's connection handles. For a link, a 200 is
/// relayed, a 404 or 410 answers 404, anything else 502; for the cache (`passThrough`) every
/// status is relayed as the origin sent it. Failures: timeouts 504, anything else 502.
final class UpstreamViewer: FillSpanReceiver {
    private let deliver: @Sendable (UpstreamEvent) -> Void
    private let passThrough: Bool
    private let relaying = Mutex<Bool?>(nil)
    /// The times of the shared fetch this viewer joined (nil when its request started the fetch).
    private let joined: (@Sendable () -> FillTimes?)?

    /// - Parameter joined: for a viewer that joins a fetch in flight, that fetch's times when its head arrives.
    init(passThrough: Bool = false, joined: (@Sendable () -> FillTimes?)? = nil, deliver: @escaping @Sendable (UpstreamEvent) -> Void) {
        self.passThrough = passThrough
        self.joined = joined
        self.deliver = deliver
    }

    func originDidReceiveInformational(_ head: HTTPResponseHead) {
        // A link's answer is made from the volume's object; the cache relays what its origin says.
        guard self.passThrough, self.relaying.withLock({ $0 == nil }) else { return }
        self.deliver(.informational(head))
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        if self.passThrough {
            self.relaying.withLock { $0 = true }
            self.deliver(.response(head, joined: self.joined?()))
            return
        }
        guard head.status == .ok else {
            self.relaying.withLock { $0 = false }
            let status: HTTPStatus = head.status == .notFound || head.status == .gone ? .notFound : .badGateway
            self.deliver(.failed(status, "the origin answered \(head.status.code)"))
            return
        }
        self.relaying.withLock { $0 = true }
        self.deliver(.response(head, joined: self.joined?()))
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        if self.relaying.withLock({ $0 == true }) { self.deliver(.body(part, file: nil)) }
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer, in span: FileSpan) {
        if self.relaying.withLock({ $0 == true }) { self.deliver(.body(part, file: span)) }
    }

    func originDidFinish() {
        if self.relaying.withLock({ $0 == true }) { self.deliver(.end) }
    }

    func originDidFail(_ error: OriginError) {
        guard self.relaying.withLock({ $0 != false }) else { return }
        self.relaying.withLock { $0 = false }
        if error.code == .differentVariant || error.code == .notShareable {
            self.deliver(.fetchSeparately)
            return
        }
        let status: HTTPStatus = error.isTimeout ? .gatewayTimeout : .badGateway
        self.deliver(.failed(status, "\(error)"))
    }
}
