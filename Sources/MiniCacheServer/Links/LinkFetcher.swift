import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SHFS
import Synchronization

/// What a viewer of a link receives, in order.
package enum LinkEvent: Sendable {
    /// The remote answered 200.
    case head(contentType: String?, contentLength: Int?, contentEncoding: String?)
    case body(ByteBuffer)
    case end
    /// The remote failed (502) or did not answer in time (504).
    case failed(HTTPStatus, String)
}

/// Fetches raw/auto links from their remote hosts. Viewers of the same link share one upstream
/// fetch: later viewers first receive what arrived so far, then follow live (the original
/// MiniCache's live-stream fan-out). A fetch ends with its response; the next viewer starts a new
/// one.
package final class LinkFetcher: Sendable {
    private let group: any EventLoopGroup
    private let timeout: TimeAmount
    private let stats: ServerStats
    private let logger: Logger
    private let fetches = Mutex<[String: SharedFetch]>([:])

    package init(group: any EventLoopGroup, timeout: TimeAmount, stats: ServerStats, logger: Logger) {
        self.group = group
        self.timeout = timeout
        self.stats = stats
        self.logger = logger
    }

    /// Joins the fetch of `link`, starting one when none runs. `deliver` is called on `eventLoop`.
    package func subscribe(
        _ link: Link,
        on eventLoop: any EventLoop,
        deliver: @escaping @Sendable (LinkEvent) -> Void
    ) -> LinkSubscription {
        let key = "\(link.host):\(link.port)/\(link.path)"
        let subscriber = LinkSubscriber(eventLoop: eventLoop, deliver: deliver)
        let (fetch, isNew) = self.fetches.withLock { table -> (SharedFetch, Bool) in
            if let running = table[key], running.add(subscriber) { return (running, false) }
            let fresh = SharedFetch(key: key)
            _ = fresh.add(subscriber)
            table[key] = fresh
            return (fresh, true)
        }
        if isNew { self.start(fetch, link: link) }
        return LinkSubscription(fetch: fetch, subscriber: subscriber)
    }

    private func start(_ fetch: SharedFetch, link: Link) {
        self.stats.upstreamFetchStarted()
        let loop = self.group.next()
        let timeout = self.timeout
        let finish: @Sendable (LinkEvent) -> Void = { [weak self] event in
            if fetch.publish(event) {
                _ = self?.fetches.withLock { table in
                    if table[fetch.key] === fetch { table.removeValue(forKey: fetch.key) }
                }
            }
        }
        let timer = loop.scheduleTask(in: timeout) {
            finish(.failed(.gatewayTimeout, "the origin did not answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        let host = link.host
        let hostField = link.hostType == .ipv6 ? "[\(link.host)]:\(link.port)" : "\(link.host):\(link.port)"
        let request = HTTPRequestHead(
            version: .http1_1,
            method: .GET,
            uri: "/" + link.path,
            headers: ["Host": hostField, "Connection": "close", "User-Agent": "minicache"]
        )
        let connect = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(request: request, timer: timer, publish: finish))
                }
            }
            .connect(host: host, port: Int(link.port))
        connect.whenFailure { error in
            timer.cancel()
            var status = HTTPStatus.badGateway
            if case ChannelError.connectTimeout = error { status = .gatewayTimeout }
            finish(.failed(status, "cannot connect to \(hostField): \(error)"))
        }
        self.logger.debug("upstream fetch", metadata: ["link.url": "\(link.url)"])
    }
}

/// A viewer's place in a shared fetch.
package struct LinkSubscription: Sendable {
    let fetch: SharedFetch
    let subscriber: LinkSubscriber

    /// Stops delivery to this viewer (the fetch goes on for the others).
    package func cancel() {
        self.fetch.remove(self.subscriber)
    }
}

final class LinkSubscriber: Sendable {
    let eventLoop: any EventLoop
    let deliver: @Sendable (LinkEvent) -> Void

    init(eventLoop: any EventLoop, deliver: @escaping @Sendable (LinkEvent) -> Void) {
        self.eventLoop = eventLoop
        self.deliver = deliver
    }
}

/// One upstream response shared by its viewers.
final class SharedFetch: Sendable {
    let key: String
    private struct State {
        var events: [LinkEvent] = []
        var finished = false
        var subscribers: [LinkSubscriber] = []
    }
    private let state = Mutex(State())

    init(key: String) { self.key = key }

    /// Adds a viewer and replays what arrived so far; false when the fetch already finished.
    func add(_ subscriber: LinkSubscriber) -> Bool {
        self.state.withLock { state in
            guard !state.finished else { return false }
            state.subscribers.append(subscriber)
            let replay = state.events
            if !replay.isEmpty {
                subscriber.eventLoop.execute {
                    for event in replay { subscriber.deliver(event) }
                }
            }
            return true
        }
    }

    func remove(_ subscriber: LinkSubscriber) {
        self.state.withLock { state in state.subscribers.removeAll { $0 === subscriber } }
    }

    /// Sends an event to every viewer; true when it ended the fetch.
    func publish(_ event: LinkEvent) -> Bool {
        self.state.withLock { state in
            guard !state.finished else { return false }
            let ends: Bool
            switch event {
            case .end, .failed: ends = true
            default: ends = false
            }
            state.events.append(event)
            state.finished = ends
            for subscriber in state.subscribers {
                subscriber.eventLoop.execute { subscriber.deliver(event) }
            }
            return ends
        }
    }
}

/// Client side of one upstream fetch.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let timer: Scheduled<Void>
    private let publish: @Sendable (LinkEvent) -> Void
    private var ok = false
    private var done = false

    init(request: HTTPRequestHead, timer: Scheduled<Void>, publish: @escaping @Sendable (LinkEvent) -> Void) {
        self.request = request
        self.timer = timer
        self.publish = publish
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(self.wrapOutboundOut(.head(self.request)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.timer.cancel()
            guard head.status == .ok else {
                self.fail(context, .badGateway, "the origin answered \(head.status.code)")
                return
            }
            self.ok = true
            self.publish(
                .head(
                    contentType: head.headers.first(name: "content-type"),
                    contentLength: head.headers.first(name: "content-length").flatMap { Int($0) },
                    contentEncoding: head.headers.first(name: "content-encoding")
                )
            )
        case .body(let bytes):
            if self.ok, !self.done { self.publish(.body(bytes)) }
        case .end:
            if self.ok, !self.done {
                self.done = true
                self.publish(.end)
            }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer.cancel()
        if !self.done { self.fail(context, .badGateway, "the origin closed the connection early") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(context, .badGateway, "origin error: \(error)")
    }

    private func fail(_ context: ChannelHandlerContext, _ status: HTTPStatus, _ message: String) {
        guard !self.done else { return }
        self.done = true
        self.publish(.failed(status, message))
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}
