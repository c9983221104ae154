#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOHTTP1

/// Turns a parsed request into a response plan: an object of the volume (``VolumeResponder``),
/// else, when an origin is configured, the cache's answer (``CacheResponder``), else `404`. One
/// per server; what an HTTP/1.1 connection calls for each request, and what an HTTP/2 stream
/// can call the same way. It also starts the relays its plans ask for and says what upstream's
/// answers become. A class, so that a connection calls it without copying its parts.
package final class Responder: Sendable {
    /// What to do with a request's body before answering.
    package enum BodyHandling: Equatable {
        /// Skip it (GET and HEAD do not use one; refused methods neither).
        case skip
        /// Wait until all of it is buffered: it is forwarded.
        case whole
        /// Refuse the request with this status and close.
        case refuse(HTTPStatus)
    }

    package let volume: VolumeResponder
    /// The cache in front of the origins, when one is configured.
    package let cache: CacheResponder?
    private let upstream: UpstreamRelay
    private let registry: StatsRegistry

    package init(cache: CacheResponder?, upstream: UpstreamRelay, registry: StatsRegistry) {
        self.volume = VolumeResponder()
        self.cache = cache
        self.upstream = upstream
        self.registry = registry
    }

    /// How the body of the request `head` is handled.
    package func body(of head: RequestHead) -> BodyHandling {
        guard head.method != .get, head.method != .head, let cache = self.cache else { return .skip }
        // Forwarded methods need their whole body; a chunked one is refused (RFC 9110 §15.5.12).
        if head.hasTransferEncoding { return .refuse(.lengthRequired) }
        if head.contentLength > cache.cache.maxRequestBody { return .refuse(.contentTooLarge) }
        return .whole
    }

    /// The plan for the request `head`.
    /// - Parameters:
    ///   - bytes: the buffered bytes `head` was parsed from (the head at offset 0, then the body
    ///     when ``body(of:)`` asked for it whole).
    ///   - mount: the volume snapshot to answer from.
    ///   - eventLoop: the connection's event loop (background work of the cache reports there).
    package func respond(to head: RequestHead, in bytes: UnsafeRawBufferPointer, mount: Mount, on eventLoop: any EventLoop) -> ResponsePlan {
        switch head.method {
        case .get, .head:
            break
        case .notAllowed, .unknown:
            // A cache forwards other methods to its origin (RFC 9111 §4.4).
            if let cache = self.cache { return cache.forward(head, in: bytes, now: Int64(time(nil))) }
            return head.method == .notAllowed ? .error(.methodNotAllowed, allow: "GET, HEAD") : .error(.notImplemented)
        }
        switch mount.lookup(head.target, in: bytes) {
        case .object(let object):
            return self.volume.respond(to: head, in: bytes, object: object)
        case .notFound:
            if let cache = self.cache { return cache.respond(to: head, in: bytes, mount: mount, now: Int64(time(nil)), on: eventLoop) }
            self.registry.recordMiss(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.target.lowerBound..<head.target.upperBound]), as: UTF8.self))
            return .error(.notFound)
        case .invalid:
            return .error(.badRequest, closing: true)
        }
    }

    /// Starts relaying `request`; `deliver` is called on `eventLoop` with what upstream sends.
    package func startRelay(_ request: UpstreamRequest, on eventLoop: any EventLoop, deliver: @escaping @Sendable (UpstreamEvent) -> Void) -> UpstreamSubscription {
        switch request {
        case .link(let link, _):
            self.upstream.subscribe(link, on: eventLoop, deliver: deliver)
        case .cache(let exchange):
            self.cache!.start(exchange, on: eventLoop, deliver: deliver)
        }
    }

    /// What the response head upstream answered `request` with becomes.
    /// - Parameter joined: the times of the shared fetch the request joined, if it joined one.
    package func upstreamAnswered(_ head: HTTPResponseHead, to request: UpstreamRequest, joined: FillTimes? = nil, mount: Mount) -> OriginAnswer {
        switch request {
        case .link(_, let object):
            .relay(self.volume.linkHead(object, upstream: head))
        case .cache(let exchange):
            self.cache!.originAnswered(head, to: exchange, joined: joined, mount: mount, now: Int64(time(nil)))
        }
    }

    /// What answers `request` when upstream failed before its head: a stored response, or nil
    /// for the failure's own status.
    package func upstreamFailed(_ request: UpstreamRequest) -> ResponsePlan? {
        guard case .cache(let exchange) = request else { return nil }
        return self.cache!.originFailed(exchange, now: Int64(time(nil)))
    }
}
