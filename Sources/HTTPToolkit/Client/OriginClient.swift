import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A Foundation-free HTTP/1.1 client for origins, on SwiftNIO's client codec, with a pool of
/// keep-alive connections per origin, connect and read timeouts, and responses streamed to
/// an ``OriginResponseDelegate`` as they arrive.
///
/// A request that fails on a reused connection before any response byte (the origin closed
/// the idle connection meanwhile) is sent again once on a new connection, if idempotent.
package final class OriginClient: Sendable {
    private struct PooledConnection: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<OriginConnectionHandler>
    }

    /// Connections are pooled per origin and local address.
    private struct PoolKey: Hashable {
        var origin: OriginAddress
        var localAddress: String?
    }

    private struct State {
        var idle: [PoolKey: [PooledConnection]] = [:]
        var isShutdown = false
        var connectionsOpened = 0
    }

    /// The timeouts and pool limits.
    package let configuration: OriginClientConfiguration
    /// The event loops connections run on.
    package let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())

    /// Creates a client.
    /// - Parameters:
    ///   - group: the event loops connections run on (usually the server's).
    ///   - configuration: timeouts and pool limits.
    ///   - logger: where connection failures are logged.
    package init(
        group: any EventLoopGroup,
        configuration: OriginClientConfiguration = OriginClientConfiguration(),
        logger: Logger = Logger(label: "minicache.origin")
    ) {
        self.group = group
        self.configuration = configuration
        self.logger = logger
    }

    /// Connections opened since the client was created (pool reuse shows as a small number).
    package var connectionsOpened: Int { state.withLock { $0.connectionsOpened } }

    /// Idle pooled connections to `origin`.
    package func idleConnectionCount(to origin: OriginAddress) -> Int {
        state.withLock { $0.idle.reduce(0) { $0 + ($1.key.origin == origin ? $1.value.count : 0) } }
    }

    /// The channels of the idle pooled connections to `origin`.
    package func idleChannels(to origin: OriginAddress) -> [any Channel] {
        state.withLock { $0.idle.filter { $0.key.origin == origin }.values.flatMap { $0.map(\.channel) } }
    }

    /// Sends `request` to `origin` and streams the response to `delegate`.
    /// - Parameters:
    ///   - request: the request; a missing `Host` is added.
    ///   - origin: where to send it.
    ///   - localAddress: an IP address to send from (a load generator places its viewers in
    ///     client prefixes this way); by default the system chooses.
    ///   - eventLoop: the preferred event loop (a pooled connection on it is taken first, new
    ///     connections are made on it); by default any.
    ///   - delegate: receives the head, body parts and the end, or the failure.
    /// - Returns: a handle to cancel the request.
    @discardableResult
    package func execute(
        _ request: OriginRequest,
        to origin: OriginAddress,
        localAddress: String? = nil,
        on eventLoop: (any EventLoop)? = nil,
        delegate: any OriginResponseDelegate
    ) -> OriginTask {
        let task = OriginTask()
        let key = PoolKey(origin: origin, localAddress: localAddress)
        attempt(request, to: key, on: eventLoop ?? group.next(), delegate: delegate, task: task, mayRetry: true)
        return task
    }

    /// Closes idle connections and fails later requests with ``OriginError/Code/shutdown``.
    /// Requests in flight finish.
    package func shutdown() {
        let idle = state.withLock { state in
            state.isShutdown = true
            defer { state.idle = [:] }
            return state.idle.values.flatMap { $0 }
        }
        for connection in idle { connection.channel.close(promise: nil) }
    }

    private func attempt(
        _ request: OriginRequest,
        to key: PoolKey,
        on eventLoop: any EventLoop,
        delegate: any OriginResponseDelegate,
        task: OriginTask,
        mayRetry: Bool
    ) {
        let taken: PooledConnection?? = state.withLock { state in
            guard !state.isShutdown else { return .none }
            guard var idle = state.idle[key], !idle.isEmpty else { return .some(nil) }
            let index = idle.lastIndex { $0.channel.eventLoop === eventLoop } ?? idle.count - 1
            let connection = idle.remove(at: index)
            state.idle[key] = idle
            return .some(connection)
        }
        switch taken {
        case .none:
            eventLoop.execute {
                delegate.originDidFail(OriginError(.shutdown, origin: key.origin, message: "the origin client is shut down"))
            }
        case .some(.some(let connection)):
            run(request, on: connection, key: key, reused: true, delegate: delegate, task: task, mayRetry: mayRetry)
        case .some(.none):
            connect(to: key, on: eventLoop).whenComplete { result in
                switch result {
                case .success(let connection):
                    self.run(request, on: connection, key: key, reused: false, delegate: delegate, task: task, mayRetry: false)
                case .failure(let failure):
                    let error =
                        failure as? OriginError
                        ?? OriginError(.connectFailed, origin: key.origin, message: "cannot connect", cause: failure)
                    self.logger.debug("origin connect failed", metadata: ["origin": "\(key.origin)", "error": "\(error)"])
                    delegate.originDidFail(error)
                }
            }
        }
    }

    private func run(
        _ request: OriginRequest,
        on connection: PooledConnection,
        key: PoolKey,
        reused: Bool,
        delegate: any OriginResponseDelegate,
        task: OriginTask,
        mayRetry: Bool
    ) {
        connection.channel.eventLoop.execute {
            guard task.attach(connection.handler) else {
                self.release(connection, key: key)
                delegate.originDidFail(OriginError(.cancelled, origin: key.origin, message: "the request was cancelled"))
                return
            }
            connection.handler.value.start(request, delegate: delegate) { outcome in
                task.detach()
                switch outcome {
                case .finished(let reusable):
                    if reusable { self.release(connection, key: key) }
                case .failed(let error, let beforeResponse):
                    if reused && mayRetry && beforeResponse && error.code == .connectionReset && request.isIdempotent {
                        self.attempt(
                            request, to: key, on: connection.channel.eventLoop, delegate: delegate, task: task, mayRetry: false)
                    } else {
                        delegate.originDidFail(error)
                    }
                }
            }
        }
    }

    private func release(_ connection: PooledConnection, key: PoolKey) {
        connection.handler.value.becameIdle()
        let kept = state.withLock { state in
            guard !state.isShutdown, connection.channel.isActive,
                state.idle[key, default: []].count < configuration.maxIdleConnectionsPerOrigin
            else { return false }
            state.idle[key, default: []].append(connection)
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    private func removeIdle(_ channel: ObjectIdentifier, key: PoolKey) {
        state.withLock { state in
            state.idle[key]?.removeAll { ObjectIdentifier($0.channel) == channel }
        }
    }

    private func connect(to key: PoolKey, on eventLoop: any EventLoop) -> EventLoopFuture<PooledConnection> {
        let configuration = self.configuration
        let origin = key.origin
        if origin.isSecure && configuration.tls == nil {
            return eventLoop.makeFailedFuture(
                OriginError(.tlsFailed, origin: origin, message: "an https:// origin needs a TLS client; this client has none"))
        }
        let handshake = eventLoop.makePromise(of: Void.self)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = ObjectIdentifier(channel)
                    if origin.isSecure, let tls = configuration.tls {
                        try channel.pipeline.syncOperations.addHandlers([
                            NIOSSLClientHandler(context: tls, serverHostname: origin.serverName),
                            OriginHandshakeWatcher(origin: origin, timeout: configuration.connectTimeout, promise: handshake),
                        ])
                    } else {
                        handshake.succeed()
                    }
                    // Interim responses (1xx) reach the connection handler, which keeps them apart
                    // from the final response (RFC 9110 §15.2).
                    try channel.pipeline.syncOperations.addHandlers([
                        HTTPRequestEncoder(),
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)),
                        NIOHTTPRequestHeadersValidator(),
                    ])
                    try channel.pipeline.syncOperations.addHandler(
                        OriginConnectionHandler(origin: origin, configuration: configuration) {
                            self?.removeIdle(id, key: key)
                        })
                }
            }
        if let localAddress = key.localAddress {
            do {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localAddress, port: 0))
            } catch {
                handshake.fail(error)
                return eventLoop.makeFailedFuture(
                    OriginError(
                        .connectFailed, origin: origin, message: "cannot send from '\(localAddress)': not an IP address", cause: error))
            }
        }
        return bootstrap.connect(host: origin.host, port: origin.port)
            .flatMapErrorThrowing { error in
                if case ChannelError.connectTimeout = error {
                    throw OriginError(
                        .connectTimeout, origin: origin,
                        message: "no connection within \(configuration.connectTimeout); check that the origin is up", cause: error)
                }
                throw OriginError(
                    .connectFailed, origin: origin, message: "cannot connect; check the origin address and that it listens",
                    cause: error)
            }
            .flatMapError { error in
                handshake.fail(error)
                return eventLoop.makeFailedFuture(error)
            }
            .flatMap { channel in
                // A TLS origin is used once its handshake succeeded: never a request in plain text.
                handshake.futureResult.map { channel }.flatMapError { error in
                    channel.close(promise: nil)
                    return eventLoop.makeFailedFuture(error)
                }
            }
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: OriginConnectionHandler.self)
                self.state.withLock { $0.connectionsOpened += 1 }
                return PooledConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
            .flatMapErrorThrowing { error in
                throw error as? OriginError
                    ?? OriginError(.connectFailed, origin: origin, message: "cannot set up the connection", cause: error)
            }
    }
}
