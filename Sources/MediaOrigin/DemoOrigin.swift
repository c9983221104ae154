import HTTPToolkit
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import Synchronization

/// `ecdn origin`: live HLS channels that advance in real time and VoD objects, with the caching
/// headers a CDN expects (playlists short-lived, segments immutable, validators on everything).
public final class DemoOrigin: Service, Sendable {
    public let configuration: DemoOriginConfiguration
    package let catalog: LiveCatalog
    private let server: HTTPServer
    private let logger: Logger
    private let requestCount = Atomic<Int>(0)
    private let bytesCount = Atomic<Int>(0)
    package let ladder: LiveLadder
    private let clip: MediaClip
    /// VoD objects are built on first use and kept.
    private let vodBodies = Mutex<[String: ByteBuffer]>([:])
    private let segments = Mutex(SegmentLedger())

    /// Reads the media clip and binds the listener; serving starts at once, ``run()`` keeps it
    /// until shutdown.
    /// - Throws: ``MediaError`` `badConfiguration` when the configuration contradicts itself, the
    ///   clip cannot be read or cut to the segment duration and ladder, or the certificate cannot
    ///   be loaded; `bindFailed` when the address cannot be bound.
    public init(configuration: DemoOriginConfiguration = DemoOriginConfiguration(), group: any EventLoopGroup, logger: Logger) async throws(MediaError) {
        guard configuration.channels >= 1, !configuration.ladder.isEmpty, configuration.segmentDuration > 0, configuration.windowSegments >= 1 else {
            throw MediaError(.badConfiguration, "the origin needs at least one channel, one bitrate, a positive segment duration and a window of one segment")
        }
        self.configuration = configuration
        let epoch = configuration.epoch ?? (HTTPDate.now() - Double(configuration.windowSegments + 1) * configuration.segmentDuration)
        self.catalog = LiveCatalog(configuration: configuration, epoch: epoch)
        self.logger = logger
        do throws(MediaError) {
            clip = try MediaClip(directory: configuration.mediaDirectory)
            self.ladder = try LiveLadder(clip: clip, bitrates: configuration.ladder, segmentDuration: configuration.segmentDuration)
        } catch {
            throw MediaError(.badConfiguration, error.message)
        }
        let context: NIOSSLContext?
        do {
            context = try configuration.tls?.serverContext()
        } catch {
            throw MediaError(.badConfiguration, error.message)
        }
        let box = ResponderBox()
        do {
            self.server = try await HTTPServer.bind(
                HTTPServerConfiguration(host: configuration.host, port: configuration.port, serverName: "ecdn", tls: context), group: group, logger: logger
            ) { request in
                box.origin?.respond(request) ?? .text(.serviceUnavailable, "starting\n")
            }
        } catch {
            throw MediaError(.bindFailed, error.message)
        }
        box.origin = self
    }

    /// `http://host:port` (`https://` with TLS) of the origin.
    public var url: String { server.url }
    public var port: Int { server.localAddress.port ?? 0 }

    /// Requests answered and body bytes sent since start (the origin egress).
    public var counters: (requests: Int, bytes: Int) {
        (requestCount.load(ordering: .relaxed), bytesCount.load(ordering: .relaxed))
    }

    /// Live segments served with a body: distinct ones, and fetches of a segment served before
    /// (behind one cache per site, `repeated` stays 0 with a single site).
    public var segmentCounters: (distinct: Int, repeated: Int) {
        segments.withLock { ($0.distinct, $0.repeated) }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await server.close()
    }

    /// Stops accepting at once (used by tests that take the origin down).
    public func close() async { await server.close() }

    func respond(_ request: HTTPRequest) -> HTTPResponse {
        let response = answer(request)
        requestCount.add(1, ordering: .relaxed)
        if request.method != .HEAD { bytesCount.add(response.body.readableBytes, ordering: .relaxed) }
        return response
    }

    private func answer(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            var r = HTTPResponse.text(.methodNotAllowed, "use GET or HEAD\n")
            r.headers.add(name: "Allow", value: "GET, HEAD")
            return r
        }
        let now = HTTPDate.now()
        if request.path == "/status" {
            let c = counters
            let s = segmentCounters
            return .json(
                DemoOriginStatus(requests: c.requests, bytes: c.bytes, segments: s.distinct, repeatedSegments: s.repeated, liveEdge: catalog.liveEdge(at: now))
            )
        }
        guard let item = catalog.item(path: request.path) else {
            return .text(.notFound, "no such object; live channels are /live/1/index.m3u8 ... /live/\(configuration.channels)/index.m3u8\n")
        }
        var headers: HTTPHeaders = ["Date": HTTPDate.format(Int64(now))]
        let body: ByteBuffer
        let etag: String
        switch item {
        case .master(let channel):
            body = ByteBuffer(string: catalog.masterPlaylist(ladder: ladder))
            etag = "\"m\(channel)-\(configuration.ladder.count)\""
            headers.add(name: "Content-Type", value: "application/vnd.apple.mpegurl")
            headers.add(name: "Cache-Control", value: "public, max-age=60")
        case .media(let channel, let variant):
            let playlist = catalog.mediaPlaylist(at: now)
            body = ByteBuffer(string: playlist.text)
            etag = "\"p\(channel)-\(variant)-\(playlist.firstSequence)\""
            let maxAge = max(1, Int(configuration.segmentDuration / 2))
            headers.add(name: "Content-Type", value: "application/vnd.apple.mpegurl")
            headers.add(name: "Cache-Control", value: "public, max-age=\(maxAge)")
        case .segment(let channel, let variant, let sequence):
            guard catalog.isAvailable(sequence: sequence, at: now) else {
                var r = HTTPResponse.text(.notFound, "segment \(sequence) is not available (live edge \(catalog.liveEdge(at: now)))\n")
                r.headers.replaceOrAdd(name: "Cache-Control", value: "max-age=1")
                return r
            }
            if request.method == .GET, request.headers.first(name: "If-None-Match") == nil {
                let oldest = catalog.liveEdge(at: now) - configuration.retainedSegments + 1
                let repeated = segments.withLock { $0.record(.init(channel: channel, variant: variant, sequence: sequence), oldestRetained: oldest) }
                if repeated {
                    // Says who asked again and how, to tell a cache that should hold it from a player around the cache.
                    logger.debug(
                        "live segment fetched again",
                        metadata: [
                            "segment.path": "\(request.path)", "client.ip": "\(request.remoteIP)",
                            "request.range": "\(request.headers.first(name: "Range") ?? "")", "request.via": "\(request.headers.first(name: "Via") ?? "")",
                        ])
                }
            }
            let rung = ladder.rungs[variant]
            body = rung.packager.segment(sequence, size: rung.segmentSize, stamp: "ecdn channel=\(channel) variant=\(variant) seq=\(sequence)")
            etag = "\"s\(channel)-\(variant)-\(sequence)\""
            headers.add(name: "Content-Type", value: "video/mp2t")
            headers.add(name: "Cache-Control", value: "public, max-age=31536000, immutable")
            headers.add(name: "Last-Modified", value: HTTPDate.format(Int64(catalog.completionTime(of: sequence))))
        case .vod(let name, let size):
            do throws(MediaError) {
                body = try vod(name: name, size: size)
            } catch {
                logger.error("cannot build a VoD object", metadata: ["vod.name": "\(name)", "error": "\(error)"])
                return .text(.internalServerError, "\(error.message)\n")
            }
            etag = "\"v-\(name)-\(size)\""
            headers.add(name: "Content-Type", value: "video/mp4")
            headers.add(name: "Cache-Control", value: "public, max-age=86400")
            headers.add(name: "Last-Modified", value: HTTPDate.format(Int64(catalog.epoch)))
        }
        headers.add(name: "ETag", value: etag)
        headers.add(name: "Accept-Ranges", value: "bytes")
        if let inm = request.headers.first(name: "If-None-Match"), inm.split(separator: ",").contains(where: { $0.trimmingOWS() == etag || $0.trimmingOWS() == "*" }) {
            return HTTPResponse(status: .notModified, headers: headers)
        }
        return ranged(request, HTTPResponse(status: .ok, headers: headers, body: body), etag: etag)
    }

    /// A VoD object: the largest rendition as a progressive MP4 at the ladder's top bitrate.
    private func vod(name: String, size: Int) throws(MediaError) -> ByteBuffer {
        if let body = vodBodies.withLock({ $0[name] }) { return body }
        let body = try ProgressiveMP4.make(clip: clip, rendition: clip.renditions.count - 1, size: size, bitrate: configuration.ladder.max() ?? 5_000_000)
        vodBodies.withLock { $0[name] = body }
        return body
    }

    /// A single byte range of a 200 (RFC 9110 §14): 206 with Content-Range, or 416 when it is not
    /// satisfiable. Several ranges, or an If-Range that does not match, get the whole response.
    private func ranged(_ request: HTTPRequest, _ response: HTTPResponse, etag: String) -> HTTPResponse {
        guard request.method == .GET, let header = request.headers.first(name: "Range") else { return response }
        if let ifRange = request.headers.first(name: "If-Range"), ifRange != etag { return response }
        let size = response.body.readableBytes
        switch SingleByteRange(header, size: size) {
        case .none:
            return response
        case .unsatisfiable:
            var r = HTTPResponse.text(.rangeNotSatisfiable, "the range is outside the \(size) bytes of the object\n")
            r.headers.replaceOrAdd(name: "Content-Range", value: "bytes */\(size)")
            return r
        case .range(let range):
            var partial = response
            partial.status = .partialContent
            partial.headers.add(name: "Content-Range", value: "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)")
            partial.body = response.body.getSlice(at: response.body.readerIndex + range.lowerBound, length: range.count) ?? ByteBuffer()
            return partial
        }
    }
}

/// Lets the responder closure reach the origin created after the listener is bound.
final class ResponderBox: @unchecked Sendable {
    private let lock = Mutex<DemoOrigin?>(nil)
    var origin: DemoOrigin? {
        get { lock.withLock { $0 } }
        set { lock.withLock { $0 = newValue } }
    }
}
