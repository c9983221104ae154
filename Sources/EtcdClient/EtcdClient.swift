#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A client of an etcd v3 cluster over its gRPC API: reads, writes, transactions, leases,
/// watches. One HTTP/2 connection to each member; requests go round robin to the members that are
/// up, so the loss of one costs only the requests in flight on it (which callers retry).
///
/// ```swift
/// let etcd = try EtcdClient(configuration: EtcdConfiguration(url: "etcd://127.0.0.1:2379"))
/// try await etcd.put("/a", value: Array("1".utf8))
/// for await update in etcd.observe(prefix: "/") { ... }
/// await etcd.close()
/// ```
public final class EtcdClient: Sendable {
    public let configuration: EtcdConfiguration
    typealias Transport = HTTP2ClientTransport.Posix
    private let grpc: GRPCClient<Transport>
    private let runner: Task<Void, Never>
    private let kv: EtcdPBKV.Client<Transport>
    private let watchService: EtcdPBWatch.Client<Transport>
    private let leaseService: EtcdPBLease.Client<Transport>
    private let maintenance: EtcdPBMaintenance.Client<Transport>
    private let authService: EtcdPBAuth.Client<Transport>
    private let connectionFailures = ConnectionFailures()
    /// etcd's token for ``EtcdConfiguration/credentials``, got once and again whenever etcd no
    /// longer knows it.
    private let token = Mutex(TokenState.none)

    /// Starts connecting in the background; requests wait for a connection up to their deadline.
    /// With ``EtcdConfiguration/tls`` it reads and checks the TLS files first.
    /// - Throws: ``EtcdError`` `badTLS` naming a TLS file that is missing or unusable,
    ///   `badEndpoint` when the transport cannot be made.
    public init(configuration: EtcdConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(EtcdError) {
        self.configuration = configuration
        let security = try configuration.tls?.transportSecurity() ?? .plaintext
        let failures = connectionFailures
        let transport: Transport
        do {
            transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(pairs: configuration.endpoints.map { ($0.host, $0.port) }),
                transportSecurity: security,
                config: .defaults { config in
                    config.backoff = .init(initial: .milliseconds(50), max: configuration.maxReconnectDelay, multiplier: 1.6, jitter: 0.2)
                    config.connection.keepalive = .init(
                        time: configuration.keepaliveInterval, timeout: configuration.keepaliveTimeout, allowWithoutCalls: false
                    )
                    config.connection.maxIdleTime = nil
                    config.http2.authority = configuration.tls?.serverName
                    // etcd sends a PING per small request; see PingResponder. It reads HTTP/2
                    // frames, so with TLS it goes right after the TLS handler.
                    config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let pipeline = channel.pipeline.syncOperations
                            guard let tls = try? pipeline.handler(type: NIOSSLClientHandler.self) else {
                                try pipeline.addHandlers([ConnectionFailureRecorder(failures, overTLS: false), PingResponder()], position: .first)
                                return
                            }
                            try pipeline.addHandlers([ConnectionFailureRecorder(failures, overTLS: true), PingResponder()], position: .after(tls))
                        }
                    }
                },
                // One connection per member and requests to those that are up: losing a member
                // costs only the requests in flight on it (pick_first would stay on the first).
                serviceConfig: ServiceConfig(loadBalancingConfig: [.roundRobin]),
                eventLoopGroup: eventLoopGroup
            )
        } catch {
            throw EtcdError(.badEndpoint, "cannot use \(configuration.url): \(error)", underlying: error)
        }
        let grpc = GRPCClient(transport: transport)
        self.grpc = grpc
        self.runner = Task { try? await grpc.runConnections() }
        self.kv = EtcdPBKV.Client(wrapping: grpc)
        self.watchService = EtcdPBWatch.Client(wrapping: grpc)
        self.leaseService = EtcdPBLease.Client(wrapping: grpc)
        self.maintenance = EtcdPBMaintenance.Client(wrapping: grpc)
        self.authService = EtcdPBAuth.Client(wrapping: grpc)
    }

    /// Closes the connection; requests in flight fail with ``EtcdError/Code/shutdown``.
    public func close() async {
        grpc.beginGracefulShutdown()
        runner.cancel()
        await runner.value
    }

    private var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = configuration.requestTimeout
        options.waitForReady = true
        // A snapshot of a large cluster exceeds gRPC's default 4 MiB (1,000 sites x 10 tenants: ~9 MB).
        // The NIO transport limits the messages it decodes by the request limit, so both are raised.
        options.maxResponseMessageBytes = Self.maxResponseBytes
        options.maxRequestMessageBytes = Self.maxResponseBytes
        return options
    }

    static let maxResponseBytes = 256 << 20

    // MARK: Keys

    /// The value of `key`, or nil.
    public func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        var request = EtcdPBRangeRequest()
        request.key = Data(key.utf8)
        let response = try await call("get \(key)") { [request] options, metadata in try await self.kv.range(request, metadata: metadata, options: options) }
        return response.kvs.first.map(EtcdKeyValue.init)
    }

    /// Every key under `prefix`, in key order, and the revision of the read.
    public func snapshot(prefix: String) async throws(EtcdError) -> EtcdSnapshot {
        var request = EtcdPBRangeRequest()
        request.key = Data(prefix.utf8)
        request.rangeEnd = Data(prefix.etcdPrefixEnd)
        let response = try await call("list \(prefix)") { [request] options, metadata in try await self.kv.range(request, metadata: metadata, options: options) }
        return EtcdSnapshot(keyValues: response.kvs.map(EtcdKeyValue.init), revision: response.header.revision)
    }

    /// Sets `key`; returns the new revision.
    @discardableResult
    public func put(_ key: String, value: [UInt8], lease: Int64 = 0) async throws(EtcdError) -> Int64 {
        var request = EtcdPBPutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value)
        request.lease = lease
        return try await call("put \(key)") { [request] options, metadata in try await self.kv.put(request, metadata: metadata, options: options) }.header.revision
    }

    /// Deletes `key` (or every key under it with `prefix`); returns how many were deleted.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws(EtcdError) -> Int64 {
        var request = EtcdPBDeleteRangeRequest()
        request.key = Data(key.utf8)
        if prefix { request.rangeEnd = Data(key.etcdPrefixEnd) }
        return try await call("delete \(key)") { [request] options, metadata in try await self.kv.deleteRange(request, metadata: metadata, options: options) }.deleted
    }

    /// Runs `success` if every comparison holds, else `failure`, atomically.
    public func transaction(
        if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation] = []
    ) async throws(EtcdError) -> EtcdTxnResult {
        var request = EtcdPBTxnRequest()
        request.compare = compares.map(Self.message)
        request.success = success.map(Self.message)
        request.failure = failure.map(Self.message)
        let response = try await call("transaction") { [request] options, metadata in try await self.kv.txn(request, metadata: metadata, options: options) }
        let reads = response.responses.compactMap { op -> [EtcdKeyValue]? in
            if case .responseRange(let range) = op.response { return range.kvs.map(EtcdKeyValue.init) }
            return nil
        }
        return EtcdTxnResult(succeeded: response.succeeded, revision: response.header.revision, reads: reads)
    }

    /// Drops history before `revision` (watches that start earlier get ``EtcdError/Code/compacted``).
    public func compact(revision: Int64) async throws(EtcdError) {
        var request = EtcdPBCompactionRequest()
        request.revision = revision
        _ = try await call("compact") { [request] options, metadata in try await self.kv.compact(request, metadata: metadata, options: options) }
    }

    /// The status of the member this client talks to.
    public func status() async throws(EtcdError) -> EtcdStatus {
        let response = try await call("status") { options, metadata in try await self.maintenance.status(EtcdPBStatusRequest(), metadata: metadata, options: options) }
        return EtcdStatus(
            version: response.version, memberID: response.header.memberID, leaderID: response.leader,
            raftTerm: response.raftTerm, revision: response.header.revision, dbSize: response.dbSize
        )
    }

    // MARK: Leases

    /// Grants a lease of `ttl` seconds.
    public func grantLease(ttl: Int64) async throws(EtcdError) -> EtcdLease {
        var request = EtcdPBLeaseGrantRequest()
        request.ttl = ttl
        let response = try await call("grant a lease") { [request] options, metadata in try await self.leaseService.leaseGrant(request, metadata: metadata, options: options) }
        guard response.error.isEmpty else { throw EtcdError(.rejected, "etcd refused a lease: \(response.error)") }
        return EtcdLease(id: response.id, ttl: response.ttl)
    }

    /// Revokes a lease: every key attached to it is deleted at once.
    public func revokeLease(_ id: Int64) async throws(EtcdError) {
        var request = EtcdPBLeaseRevokeRequest()
        request.id = id
        _ = try await call("revoke a lease") { [request] options, metadata in try await self.leaseService.leaseRevoke(request, metadata: metadata, options: options) }
    }

    /// Keeps `lease` alive, renewing it every third of its TTL, until the task is cancelled.
    /// Connection failures are retried (etcd keeps a lease for its TTL, and longer across a
    /// leader change); `renewed` is called with the TTL after each renewal.
    /// - Throws: ``EtcdError`` `leaseExpired` once etcd says the lease is gone.
    public func keepAlive(_ lease: EtcdLease, renewed: @escaping @Sendable (Int64) -> Void = { _ in }) async throws(EtcdError) {
        let interval = Duration.milliseconds(max(200, lease.ttl * 1000 / 3))
        while !Task.isCancelled {
            let outcome: Result<Void, EtcdError> = await {
                var sent: String?
                do {
                    sent = try await self.currentToken()
                    try await self.leaseService.leaseKeepAlive(metadata: Self.metadata(sent), options: self.streamOptions) { writer in
                        var request = EtcdPBLeaseKeepAliveRequest()
                        request.id = lease.id
                        while !Task.isCancelled {
                            try await writer.write(request)
                            try await Task.sleep(for: interval)
                        }
                    } onResponse: { response in
                        for try await message in response.messages {
                            guard message.ttl > 0 else {
                                throw EtcdError(.leaseExpired, "lease \(String(lease.id, radix: 16)) expired or was revoked")
                            }
                            renewed(message.ttl)
                        }
                    }
                    return .success(())
                } catch let error as EtcdError {
                    return .failure(error)
                } catch {
                    if Self.isStaleToken(error) { self.forgetToken(sent) }
                    return .failure(self.failure(error, "keep a lease alive"))
                }
            }()
            if case .failure(let error) = outcome, error.code == .leaseExpired { throw error }
            guard !Task.isCancelled else { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    // MARK: Watches

    private var streamOptions: CallOptions {
        var options = CallOptions.defaults
        options.waitForReady = true
        options.maxResponseMessageBytes = Self.maxResponseBytes
        options.maxRequestMessageBytes = Self.maxResponseBytes
        return options
    }

    /// Changes under `prefix` from `revision` on (one watch stream), until the task is cancelled
    /// or the stream fails; `onResponse` gets each batch and the revision it reaches (progress
    /// notifications carry no events).
    /// - Throws: ``EtcdError`` `compacted` (with the compaction revision) when `revision` is
    ///   no longer kept; `unavailable` when the connection fails.
    public func watch(
        prefix: String, from revision: Int64, onResponse: @escaping @Sendable ([EtcdEvent], Int64) async -> Void
    ) async throws(EtcdError) {
        var create = EtcdPBWatchCreateRequest()
        create.key = Data(prefix.utf8)
        create.rangeEnd = Data(prefix.etcdPrefixEnd)
        create.startRevision = revision
        create.progressNotify = true
        var request = EtcdPBWatchRequest()
        request.createRequest = create
        let first = request
        var sent: String?
        do {
            sent = try await currentToken()
            try await watchService.watch(metadata: Self.metadata(sent), options: streamOptions) { writer in
                try await writer.write(first)
                // The request side stays open: closing it ends the watch.
                while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
            } onResponse: { response in
                for try await message in response.messages {
                    if message.canceled {
                        if Self.isStaleToken(message.cancelReason) {
                            throw EtcdError(.unauthenticated, "watch \(prefix): etcd refused the token: \(message.cancelReason)")
                        }
                        if message.compactRevision > 0 {
                            throw EtcdError(
                                .compacted, "revisions before \(message.compactRevision) were compacted", compactRevision: message.compactRevision
                            )
                        }
                        throw EtcdError(.unavailable, "etcd cancelled the watch: \(message.cancelReason)")
                    }
                    let events = message.events.map {
                        EtcdEvent(kind: $0.type == .delete ? .delete : .put, keyValue: EtcdKeyValue($0.kv))
                    }
                    let reached = max(events.last?.keyValue.modRevision ?? 0, message.header.revision)
                    if !events.isEmpty || !message.created { await onResponse(events, reached) }
                }
            }
        } catch let error as EtcdError {
            guard error.code == .unauthenticated else { throw error }
            // A token etcd no longer knows: the next attempt authenticates again; without
            // credentials, the cluster wants some.
            guard configuration.credentials != nil else { throw Self.credentialsNeeded("watch \(prefix)", underlying: error) }
            forgetToken(sent)
            throw EtcdError(.unavailable, error.message, underlying: error)
        } catch {
            if Self.isStaleToken(error) { forgetToken(sent) }
            throw failure(error, "watch \(prefix)")
        }
        throw EtcdError(.unavailable, "the watch of \(prefix) ended")
    }

    /// Everything under `prefix`, then every change, for as long as the stream is consumed:
    /// a snapshot first; events after it; after a failure it reconnects and resumes from the
    /// last revision seen, or sends a new snapshot when that revision was compacted.
    /// - Parameter revision: watch from this revision without a first snapshot (nil: snapshot).
    public func observe(prefix: String, from revision: Int64? = nil) -> AsyncStream<EtcdUpdate> {
        let (stream, continuation) = AsyncStream<EtcdUpdate>.makeStream(bufferingPolicy: .unbounded)
        let task = Task {
            let next = Revision(revision ?? 0)
            var disconnected = false
            var delay = Duration.milliseconds(50)
            while !Task.isCancelled {
                do throws(EtcdError) {
                    if next.value == 0 {
                        let snapshot = try await self.snapshot(prefix: prefix)
                        continuation.yield(.snapshot(snapshot))
                        next.value = snapshot.revision + 1
                    }
                    disconnected = false
                    delay = .milliseconds(50)
                    try await self.watch(prefix: prefix, from: next.value) { events, reached in
                        next.advance(to: reached + 1)
                        if !events.isEmpty { continuation.yield(.events(events, revision: reached)) }
                    }
                } catch {
                    if Task.isCancelled { break }
                    if error.code == .compacted {
                        next.value = 0
                        continue
                    }
                    if !disconnected {
                        disconnected = true
                        continuation.yield(.disconnected(error))
                    }
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(1))
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Plumbing

    /// Runs one unary request; a request cut by a closed connection (a member that died, a reset
    /// link, a stream closed under it) is sent again, on whichever member is up, within the same
    /// deadline. Every request this client makes may be repeated: puts and deletes are idempotent,
    /// and so are transactions of them; a conditional one whose first attempt committed fails its
    /// comparisons the second time.
    ///
    /// With ``EtcdConfiguration/credentials`` each request carries etcd's token; a request that
    /// etcd refuses for its token (a member that restarted, or an auth change) is sent once more
    /// with a new one.
    private func call<T: Sendable>(
        _ what: String, authenticated: Bool = true, _ body: @Sendable (CallOptions, Metadata) async throws -> T
    ) async throws(EtcdError) -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.requestTimeout
        var attempt = 0
        var renewed = false
        while true {
            attempt += 1
            var options = self.options
            options.timeout = max(deadline - clock.now, .milliseconds(1))
            var sent: String?
            do {
                if authenticated { sent = try await currentToken() }
                return try await body(options, Self.metadata(sent))
            } catch {
                if authenticated, !renewed, configuration.credentials != nil, Self.isStaleToken(error) {
                    renewed = true
                    forgetToken(sent)
                    continue
                }
                let mapped = failure(error, what)
                guard mapped.code == .unavailable, attempt < Self.maxAttempts, !Task.isCancelled,
                      clock.now + Self.retryDelay * attempt < deadline else { throw mapped }
                try? await Task.sleep(for: Self.retryDelay * attempt)
            }
        }
    }

    /// Attempts of one request cut by a closed connection, and the pause before each retry (times the attempt).
    static let maxAttempts = 4
    static let retryDelay = Duration.milliseconds(25)

    /// ``map(_:_:)``, and when connections fail, why and what to do.
    private func failure(_ error: any Error, _ what: String) -> EtcdError {
        let mapped = Self.map(error, what)
        guard mapped.code == .unavailable || mapped.code == .timeout, let last = connectionFailures.current else { return mapped }
        guard let tls = configuration.tls else {
            guard last.hasSuffix(ConnectionFailureRecorder.closedUnanswered) else { return mapped }
            return EtcdError(
                mapped.code, "\(what): etcd \(last): if its client URLs are https://, write the store as https:// (TLS)", underlying: mapped
            )
        }
        return EtcdError(mapped.code, "\(what): TLS to etcd failed: \(tls.advice(for: last)) (\(last))", underlying: mapped)
    }

    static func map(_ error: any Error, _ what: String) -> EtcdError {
        if let error = error as? EtcdError { return error }
        guard let rpc = error as? RPCError else {
            if error is CancellationError { return EtcdError(.shutdown, "\(what): cancelled", underlying: error) }
            return EtcdError(.unavailable, "\(what): \(error)", underlying: error)
        }
        if rpc.message.contains(userNameEmpty) { return credentialsNeeded(what, underlying: rpc) }
        switch rpc.code {
        case .deadlineExceeded:
            return EtcdError(.timeout, "\(what): no answer from etcd in time (\(rpc.message)); is a quorum of members up?", underlying: rpc)
        case .notFound where rpc.message.contains("lease"):
            return EtcdError(.leaseExpired, "\(what): \(rpc.message)", underlying: rpc)
        case .outOfRange where rpc.message.contains("compacted"):
            return EtcdError(.compacted, "\(what): \(rpc.message)", underlying: rpc)
        case .invalidArgument, .failedPrecondition, .permissionDenied, .resourceExhausted, .unauthenticated, .notFound, .outOfRange:
            return EtcdError(.rejected, "\(what): etcd refused: \(rpc.message)", underlying: rpc)
        case .cancelled:
            return EtcdError(.shutdown, "\(what): cancelled", underlying: rpc)
        default:
            let cause = rpc.cause.map { ": \($0)" } ?? ""
            return EtcdError(.unavailable, "\(what): etcd unreachable (\(rpc.code): \(rpc.message)\(cause)); check that its members run and the endpoints are right", underlying: rpc)
        }
    }

    // MARK: Authentication

    /// What the client knows of its token.
    private enum TokenState {
        case none
        /// An authentication under way: every request waits for the same one.
        case pending(Task<String?, any Error>)
        /// etcd's token; nil when the cluster has authentication off (no token is sent).
        case known(String?)
    }

    /// The token to send (nil: none), authenticating first when there is none yet.
    private func currentToken() async throws(EtcdError) -> String? {
        guard let credentials = configuration.credentials else { return nil }
        enum Next {
            case token(String?)
            case wait(Task<String?, any Error>)
        }
        let next: Next = token.withLock { state in
            switch state {
            case .known(let value):
                return .token(value)
            case .pending(let task):
                return .wait(task)
            case .none:
                let task = Task { try await self.authenticate(credentials) }
                state = .pending(task)
                return .wait(task)
            }
        }
        guard case .wait(let task) = next else {
            if case .token(let value) = next { return value }
            return nil
        }
        do {
            let value = try await task.value
            token.withLock { if case .pending(let current) = $0, current == task { $0 = .known(value) } }
            return value
        } catch {
            token.withLock { if case .pending(let current) = $0, current == task { $0 = .none } }
            throw error as? EtcdError ?? EtcdError(.unavailable, "authenticate as \(credentials.user): \(error)", underlying: error)
        }
    }

    /// Asks etcd for a token (Auth.Authenticate); nil when the cluster has authentication off.
    private func authenticate(_ credentials: EtcdConfiguration.Credentials) async throws(EtcdError) -> String? {
        var request = EtcdPBAuthenticateRequest()
        request.name = credentials.user
        request.password = credentials.password
        let what = "authenticate as \(credentials.user)"
        do {
            return try await call(what, authenticated: false) { [request] options, _ in
                try await self.authService.authenticate(request, options: options)
            }.token
        } catch {
            let message = (error.underlying as? RPCError)?.message ?? ""
            if message.contains("authentication is not enabled") { return nil }
            guard message.contains("invalid user ID or password") else { throw error }
            throw EtcdError(
                .rejected, "\(what): etcd refused user \(credentials.user)'s password; check the user and its password file (ecdn: --etcd-user, --etcd-password-file)",
                underlying: error
            )
        }
    }

    /// Forgets `sent` (unless another request already replaced it), so the next request authenticates again.
    private func forgetToken(_ sent: String?) {
        token.withLock { state in
            if case .known(let current) = state, current == sent { state = .none }
        }
    }

    private static func metadata(_ token: String?) -> Metadata {
        var metadata = Metadata()
        if let token { metadata.addString(token, forKey: "token") }
        return metadata
    }

    private static let userNameEmpty = "user name is empty"

    /// etcd refused a request for its token: one it does not know (restarted, expired), one from
    /// before an auth change, or none while authentication is on.
    private static func isStaleToken(_ error: any Error) -> Bool {
        if let error = error as? EtcdError { return error.code == .unauthenticated }
        guard let rpc = error as? RPCError else { return false }
        return isStaleToken(rpc.message)
    }

    private static func isStaleToken(_ reason: String) -> Bool {
        reason.contains("invalid auth token") || reason.contains("revision of auth store is old") || reason.contains(userNameEmpty)
    }

    private static func credentialsNeeded(_ what: String, underlying: any Error) -> EtcdError {
        EtcdError(
            .rejected, "\(what): etcd requires a user and password (its authentication is on); give them (ecdn: --etcd-user, --etcd-password-file)",
            underlying: underlying
        )
    }

    static func message(_ compare: EtcdCompare) -> EtcdPBCompare {
        var m = EtcdPBCompare()
        m.key = Data(compare.key.utf8)
        if compare.prefix { m.rangeEnd = Data(compare.key.etcdPrefixEnd) }
        switch compare.relation {
        case .equal: m.result = .equal
        case .notEqual: m.result = .notEqual
        case .greater: m.result = .greater
        case .less: m.result = .less
        }
        switch compare.target {
        case .version(let v):
            m.target = .version
            m.version = v
        case .createRevision(let r):
            m.target = .create
            m.createRevision = r
        case .modRevision(let r):
            m.target = .mod
            m.modRevision = r
        case .value(let bytes):
            m.target = .value
            m.value = Data(bytes)
        case .lease(let id):
            m.target = .lease
            m.lease = id
        }
        return m
    }

    static func message(_ operation: EtcdOperation) -> EtcdPBRequestOp {
        var op = EtcdPBRequestOp()
        switch operation {
        case .put(let key, let value, let lease):
            var put = EtcdPBPutRequest()
            put.key = Data(key.utf8)
            put.value = Data(value)
            put.lease = lease
            op.requestPut = put
        case .delete(let key):
            var delete = EtcdPBDeleteRangeRequest()
            delete.key = Data(key.utf8)
            op.requestDeleteRange = delete
        case .deletePrefix(let prefix):
            var delete = EtcdPBDeleteRangeRequest()
            delete.key = Data(prefix.utf8)
            delete.rangeEnd = Data(prefix.etcdPrefixEnd)
            op.requestDeleteRange = delete
        case .get(let key):
            var range = EtcdPBRangeRequest()
            range.key = Data(key.utf8)
            op.requestRange = range
        case .getPrefix(let prefix):
            var range = EtcdPBRangeRequest()
            range.key = Data(prefix.utf8)
            range.rangeEnd = Data(prefix.etcdPrefixEnd)
            op.requestRange = range
        }
        return op
    }
}

/// The next revision an observation resumes from, advanced by the watch's response handler.
private final class Revision: Sendable {
    private let state: Mutex<Int64>
    init(_ value: Int64) { state = Mutex(value) }
    var value: Int64 {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
    func advance(to revision: Int64) { state.withLock { $0 = max($0, revision) } }
}

extension EtcdKeyValue {
    init(_ message: EtcdPBKeyValue) {
        self.init(
            key: String(decoding: message.key, as: UTF8.self), value: Array(message.value), createRevision: message.createRevision,
            modRevision: message.modRevision, version: message.version, lease: message.lease
        )
    }
}
