import Logging
import NIOCore
import NIOHTTP1
import SHFS
import Synchronization

/// What a viewer of a link or of a cache miss receives, in order.
package enum LinkEvent: Sendable {
    /// The remote answered 200.
    case head(contentType: String?, contentLength: Int?, contentEncoding: String?)
    case body(ByteBuffer)
    case end
    /// The remote failed (502), did not answer in time (504) or has no such object (404).
    case failed(HTTPStatus, String)
}

/// Relays raw/auto links and cache misses from their remote hosts through the module's one
/// ``OriginClient``. Viewers of the same resource share one fetch (an ``OriginFill``): later
/// viewers first receive what arrived so far, from memory, then follow live (the original
/// MiniCache's live-stream fan-out). A fetch ends with its response; the next viewer starts a new
/// one unless the fill is held (a miss being stored).
package final class LinkFetcher: Sendable {
    package let client: OriginClient
    package let fills: OriginFillRegistry<String>
    private let stats: ServerStats
    private let logger: Logger

    package init(group: any EventLoopGroup, timeout: TimeAmount, stats: ServerStats, logger: Logger) {
        self.client = OriginClient(
            group: group,
            configuration: OriginClientConfiguration(connectTimeout: timeout, readTimeout: timeout),
            logger: logger
        )
        self.fills = OriginFillRegistry()
        self.stats = stats
        self.logger = logger
    }

    /// Joins the fetch of `link`, starting one when none runs. `deliver` is called on `eventLoop`.
    package func subscribe(
        _ link: Link,
        on eventLoop: any EventLoop,
        deliver: @escaping @Sendable (LinkEvent) -> Void
    ) -> LinkSubscription {
        let hostField = link.hostType == .ipv6 ? "[\(link.host)]:\(link.port)" : "\(link.host):\(link.port)"
        let request = OriginRequest(target: "/" + link.path, headers: ["Host": hostField, "User-Agent": "minicache"])
        return self.subscribe(
            key: "link \(hostField)/\(link.path)",
            request: request,
            origin: OriginAddress(host: link.host, port: Int(link.port)),
            on: eventLoop,
            deliver: deliver
        )
    }

    /// Joins the fetch for `key`, or starts `request` to `origin` when none runs.
    /// - Parameter recorder: called once with a fill this call creates, before it starts; what it
    ///   returns is subscribed first, and when it is not nil the fill is held after its end until
    ///   the recorder releases it.
    package func subscribe(
        key: String,
        request: OriginRequest,
        origin: OriginAddress,
        on eventLoop: any EventLoop,
        recorder: ((OriginFill<String>) -> (any OriginResponseDelegate)?)? = nil,
        deliver: @escaping @Sendable (LinkEvent) -> Void
    ) -> LinkSubscription {
        let viewer = LinkViewer(deliver: deliver)
        while true {
            let (fill, isNew) = self.fills.fill(for: key)
            if isNew {
                let held = recorder?(fill)
                if let held { _ = fill.subscribe(held, on: eventLoop) }
                _ = fill.subscribe(viewer, on: eventLoop)
                self.stats.upstreamFetchStarted()
                self.logger.debug("origin fetch", metadata: ["origin": "\(origin)", "fetch.key": "\(key)"])
                fill.start(request, to: origin, using: self.client, on: eventLoop, holdAfterFinish: held != nil)
                return LinkSubscription(fill: fill, viewer: viewer, isNew: true)
            }
            if fill.subscribe(viewer, on: eventLoop) == .joined {
                return LinkSubscription(fill: fill, viewer: viewer, isNew: false)
            }
        }
    }
}

/// A viewer's place in a shared fetch.
package struct LinkSubscription: Sendable {
    let fill: OriginFill<String>
    let viewer: LinkViewer
    /// Whether this viewer's request started the fetch (a miss) or joined one (coalesced).
    package let isNew: Bool

    /// Stops delivery to this viewer (the fetch goes on for the others).
    package func cancel() {
        self.fill.unsubscribe(self.viewer)
    }
}

/// Turns an origin response into the events a viewer's connection handles: a 200 is relayed, a
/// 404 or 410 answers 404, anything else 502; timeouts 504.
final class LinkViewer: OriginResponseDelegate {
    private let deliver: @Sendable (LinkEvent) -> Void
    private let relaying = Mutex<Bool?>(nil)

    init(deliver: @escaping @Sendable (LinkEvent) -> Void) {
        self.deliver = deliver
    }

    func originDidReceiveHead(_ head: HTTPResponseHead) {
        guard head.status == .ok else {
            self.relaying.withLock { $0 = false }
            let status: HTTPStatus = head.status == .notFound || head.status == .gone ? .notFound : .badGateway
            self.deliver(.failed(status, "the origin answered \(head.status.code)"))
            return
        }
        self.relaying.withLock { $0 = true }
        self.deliver(
            .head(
                contentType: head.headers.first(name: "content-type"),
                contentLength: head.headers.first(name: "content-length").flatMap { Int($0) },
                contentEncoding: head.headers.first(name: "content-encoding")
            )
        )
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
        let status: HTTPStatus =
            error.code == .connectTimeout || error.code == .readTimeout ? .gatewayTimeout : .badGateway
        self.deliver(.failed(status, "\(error)"))
    }
}
