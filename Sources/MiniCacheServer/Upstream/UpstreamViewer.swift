import HTTPToolkit
import NIOCore
import NIOHTTP1
import Synchronization

/// Turns an origin response into the events a viewer's connection handles. For a link, a 200 is
/// relayed, a 404 or 410 answers 404, anything else 502; for the cache (`passThrough`) every
/// status is relayed as the origin sent it. Failures: timeouts 504, anything else 502.
final class UpstreamViewer: OriginResponseDelegate {
    private let deliver: @Sendable (UpstreamEvent) -> Void
    private let passThrough: Bool
    private let relaying = Mutex<Bool?>(nil)

    init(passThrough: Bool = false, deliver: @escaping @Sendable (UpstreamEvent) -> Void) {
        self.passThrough = passThrough
        self.deliver = deliver
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        if self.passThrough {
            self.relaying.withLock { $0 = true }
            self.deliver(.response(head))
            return
        }
        guard head.status == .ok else {
            self.relaying.withLock { $0 = false }
            let status: HTTPStatus = head.status == .notFound || head.status == .gone ? .notFound : .badGateway
            self.deliver(.failed(status, "the origin answered \(head.status.code)"))
            return
        }
        self.relaying.withLock { $0 = true }
        self.deliver(.response(head))
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        if self.relaying.withLock({ $0 == true }) { self.deliver(.body(part)) }
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
