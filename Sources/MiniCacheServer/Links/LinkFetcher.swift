import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import SHFS
import Synchronization

/// What a viewer of a link or of a cache miss receives, in order.
package enum LinkEvent: Sendable {
    /// The remote answered 200 (a link).
    case head(contentType: String?, contentLength: Int?, contentEncoding: String?)
    /// The origin's response head, whatever its status (a cache miss, revalidation or pass-through).
    case response(HTTPResponseHead)
    case body(ByteBuffer)
    case end
    /// The shared fetch turned out not to be for this viewer (another `Vary` variant, or a
    /// response for its requester only): the viewer must fetch on its own.
    case fetchSeparately
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
        passThrough: Bool = false,
        requestHeaders: HTTPHeaders? = nil,
        deliver: @escaping @Sendable (LinkEvent) -> Void
    ) -> LinkSubscription {
        let viewer = LinkViewer(passThrough: passThrough, deliver: deliver)
        while true {
            let (fill, isNew) = self.fills.fill(for: key)
            if isNew {
                let held = recorder?(fill)
                if let held { _ = fill.subscribe(held, on: eventLoop) }
                _ = fill.subscribe(viewer, on: eventLoop)
                self.stats.upstreamFetchStarted()
                self.logger.debug("origin fetch", metadata: ["origin": "\(origin)", "fetch.key": "\(key)"])
                fill.start(request, to: origin, using: self.client, on: eventLoop, holdAfterFinish: held != nil)
                return LinkSubscription(isNew: true) { fill.unsubscribe(viewer) }
            }
            switch fill.subscribe(viewer, on: eventLoop, requestHeaders: requestHeaders) {
            case .joined:
                return LinkSubscription(isNew: false) { fill.unsubscribe(viewer) }
            case .closed:
                continue
            case .differentVariant, .notShareable:
                // The response in flight is not for this client: it gets its own fetch.
                return self.direct(request, to: origin, on: eventLoop, deliver: deliver)
            }
        }
    }

    /// Sends `request` to `origin` on its own (no sharing): pass-through methods.
    package func execute(
        _ request: OriginRequest,
        to origin: OriginAddress,
        on eventLoop: any EventLoop,
        deliver: @escaping @Sendable (LinkEvent) -> Void
    ) -> LinkSubscription {
        self.direct(request, to: origin, on: eventLoop, deliver: deliver)
    }

    /// An unshared fetch whose events are delivered on `eventLoop` (the origin connection may
    /// live on another loop).
    private func direct(
        _ request: OriginRequest,
        to origin: OriginAddress,
        on eventLoop: any EventLoop,
        deliver: @escaping @Sendable (LinkEvent) -> Void
    ) -> LinkSubscription {
        let viewer = LinkViewer(passThrough: true) { event in
            if eventLoop.inEventLoop {
                deliver(event)
            } else {
                eventLoop.execute { deliver(event) }
            }
        }
        self.stats.upstreamFetchStarted()
        let task = self.client.execute(request, to: origin, on: eventLoop, delegate: viewer)
        return LinkSubscription(isNew: true) { task.cancel() }
    }
}

/// A viewer's place in a shared fetch.
package struct LinkSubscription: Sendable {
    /// Whether this viewer's request started the fetch (a miss) or joined one (coalesced).
    package let isNew: Bool
    private let stop: @Sendable () -> Void

    init(isNew: Bool, stop: @escaping @Sendable () -> Void) {
        self.isNew = isNew
        self.stop = stop
    }

    /// Stops delivery to this viewer (a shared fetch goes on for the others).
    package func cancel() {
        self.stop()
    }
}

/// Turns an origin response into the events a viewer's connection handles. For a link, a 200 is
/// relayed, a 404 or 410 answers 404, anything else 502; for the cache (`passThrough`) every
/// status is relayed as the origin sent it. Failures: timeouts 504, anything else 502.
final class LinkViewer: OriginResponseDelegate {
    private let deliver: @Sendable (LinkEvent) -> Void
    private let passThrough: Bool
    private let relaying = Mutex<Bool?>(nil)

    init(passThrough: Bool = false, deliver: @escaping @Sendable (LinkEvent) -> Void) {
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
        if error.code == .differentVariant || error.code == .notShareable {
            self.deliver(.fetchSeparately)
            return
        }
        let status: HTTPStatus = error.isTimeout ? .gatewayTimeout : .badGateway
        self.deliver(.failed(status, "\(error)"))
    }
}
