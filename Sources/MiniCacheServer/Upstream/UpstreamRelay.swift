import HTTPToolkit
import Logging
import NIOCore
import NIOSSL
import NIOHTTP1
import SHFS
import Synchronization

/// Relays responses from upstream — the remote hosts of raw and auto links, and the cache's
/// origins for misses, revalidations and pass-through — through the module's one
/// ``OriginClient``. Viewers of the same resource share one fetch (an ``OriginFill``): later
/// viewers first receive what arrived so far, from memory, then follow live (the original
/// MiniCache's live-stream fan-out). A fetch ends with its response; the next viewer starts a new
/// one unless the fill is held (a miss being stored).
package final class UpstreamRelay: Sendable {
    package let client: OriginClient
    package let fills: OriginFillRegistry<String>
    private let stats: ServerStats
    private let logger: Logger

    /// - Parameters:
    ///   - tls: the TLS client of `https://` origins; nil refuses them.
    ///   - rules: decide which responses in flight joiners may share (those of the cache).
    package init(
        group: any EventLoopGroup, timeout: TimeAmount, tls: NIOSSLContext? = nil, stats: ServerStats, logger: Logger,
        rules: CacheRules = CacheRules()
    ) {
        self.client = OriginClient(
            group: group,
            configuration: OriginClientConfiguration(connectTimeout: timeout, readTimeout: timeout, tls: tls),
            logger: logger
        )
        self.fills = OriginFillRegistry(rules: rules)
        self.stats = stats
        self.logger = logger
    }

    /// Joins the fetch of `link`, starting one when none runs. `deliver` is called on `eventLoop`.
    package func subscribe(
        _ link: Link,
        on eventLoop: any EventLoop,
        deliver: @escaping @Sendable (UpstreamEvent) -> Void
    ) -> UpstreamSubscription {
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
        deliver: @escaping @Sendable (UpstreamEvent) -> Void
    ) -> UpstreamSubscription {
        while true {
            let (fill, isNew) = self.fills.fill(for: key)
            var joined: (@Sendable () -> FillTimes?)?
            if !isNew { joined = { [weak fill] in fill?.times } }
            let viewer = UpstreamViewer(passThrough: passThrough, joined: joined, deliver: deliver)
            if isNew {
                let held = recorder?(fill)
                if let held { _ = fill.subscribe(held, on: eventLoop) }
                _ = fill.subscribe(viewer, on: eventLoop, paced: true)
                self.stats.upstreamFetchStarted()
                self.logger.debug("origin fetch", metadata: ["origin": "\(origin)", "fetch.key": "\(key)"])
                fill.start(request, to: origin, using: self.client, on: eventLoop, holdAfterFinish: held != nil)
                return UpstreamSubscription(isNew: true, stop: { fill.unsubscribe(viewer) }, backlog: { fill.setBacklogged(viewer, $0) })
            }
            switch fill.subscribe(viewer, on: eventLoop, requestHeaders: requestHeaders, paced: true) {
            case .joined:
                return UpstreamSubscription(isNew: false, stop: { fill.unsubscribe(viewer) }, backlog: { fill.setBacklogged(viewer, $0) })
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
        deliver: @escaping @Sendable (UpstreamEvent) -> Void
    ) -> UpstreamSubscription {
        self.direct(request, to: origin, on: eventLoop, deliver: deliver)
    }

    /// An unshared fetch whose events are delivered on `eventLoop` (the origin connection may
    /// live on another loop, which then reads at the viewer's pace: see ``DirectPacing``).
    private func direct(
        _ request: OriginRequest,
        to origin: OriginAddress,
        on eventLoop: any EventLoop,
        deliver: @escaping @Sendable (UpstreamEvent) -> Void
    ) -> UpstreamSubscription {
        let pacing = DirectPacing()
        let viewer = UpstreamViewer(passThrough: true) { event in
            if eventLoop.inEventLoop {
                deliver(event)
            } else if case .body(let part, _) = event {
                let count = part.readableBytes
                pacing.queue(count)
                eventLoop.execute {
                    deliver(event)
                    pacing.queue(-count)
                }
            } else {
                eventLoop.execute { deliver(event) }
            }
        }
        self.stats.upstreamFetchStarted()
        let task = self.client.execute(request, to: origin, on: eventLoop, delegate: viewer)
        pacing.attach(task)
        return UpstreamSubscription(isNew: true, stop: { task.cancel() }, backlog: { pacing.setBehind($0) })
    }
}

/// Paces an unshared fetch by its one viewer: the origin is read while the viewer keeps up, and
/// not while it reports a backlog or while ``OriginFill/pacingWindow`` bytes or more wait on its
/// event loop for delivery. The viewer's backlog report can only come once its loop runs, and a
/// loop kept busy would otherwise let an origin connection on another loop read at memory speed
/// into that loop's task queue.
private final class DirectPacing: Sendable {
    private struct State {
        var task: OriginTask?
        var behind = false
        var queued = 0
        var paused = false
    }

    private let state = Mutex(State())

    func attach(_ task: OriginTask) {
        self.state.withLock { state in
            state.task = task
            Self.apply(&state)
        }
    }

    /// `count` more bytes wait for delivery (fewer when negative).
    func queue(_ count: Int) {
        self.state.withLock { state in
            state.queued += count
            Self.apply(&state)
        }
    }

    func setBehind(_ behind: Bool) {
        self.state.withLock { state in
            state.behind = behind
            Self.apply(&state)
        }
    }

    /// Pauses or resumes the read on a change, under the lock so the task sees the changes in order.
    private static func apply(_ state: inout State) {
        guard let task = state.task else { return }
        let pause = state.behind || state.queued >= OriginFill<String>.pacingWindow
        guard pause != state.paused else { return }
        state.paused = pause
        if pause { _ = task.pauseReading() } else { task.resumeReading() }
    }
}
