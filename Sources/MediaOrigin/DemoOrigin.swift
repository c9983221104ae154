import ElasticControl
import Logging
import NIOCore
import NIOHTTP1
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
    private let segmentTemplates: [ByteBuffer]

    /// Binds the listener; serving starts at once, ``run()`` keeps it until shutdown.
    public init(configuration: DemoOriginConfiguration = DemoOriginConfiguration(), group: any EventLoopGroup, logger: Logger) async throws(ControlError) {
        guard configuration.channels >= 1, !configuration.ladder.isEmpty, configuration.segmentDuration > 0, configuration.windowSegments >= 1 else {
            throw ControlError(.badConfiguration, "the origin needs at least one channel, one bitrate, a positive segment duration and a window of one segment")
        }
        self.configuration = configuration
        let epoch = configuration.epoch ?? (HTTPDate.now() - Double(configuration.windowSegments + 1) * configuration.segmentDuration)
        let catalog = LiveCatalog(configuration: configuration, epoch: epoch)
        self.catalog = catalog
        self.logger = logger
        self.segmentTemplates = configuration.ladder.indices.map { variant in
            let size = catalog.segmentSize(variant: variant)
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            // MPEG-TS packets are 188 bytes starting with the sync byte 0x47.
            var packet = [UInt8](repeating: 0xFF, count: 188)
            packet[0] = 0x47
            while buffer.readableBytes + 188 <= size { buffer.writeBytes(packet) }
            buffer.writeRepeatingByte(0xFF, count: size - buffer.readableBytes)
            return buffer
        }
        let box = ResponderBox()
        self.server = try await HTTPServer.bind(host: configuration.host, port: configuration.port, group: group, logger: logger) { request in
            box.origin?.respond(request) ?? .text(.serviceUnavailable, "starting\n")
        }
        box.origin = self
    }

    /// `http://host:port` of the origin.
    public var url: String { server.url }
    public var port: Int { server.localAddress.port ?? 0 }

    /// Requests answered and body bytes sent since start (the origin egress).
    public var counters: (requests: Int, bytes: Int) {
        (requestCount.load(ordering: .relaxed), bytesCount.load(ordering: .relaxed))
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
            return .text(.ok, "{\"requests\":\(c.requests),\"bytes\":\(c.bytes),\"liveEdge\":\(catalog.liveEdge(at: now))}\n", contentType: "application/json")
        }
        guard let item = catalog.item(path: request.path) else {
            return .text(.notFound, "no such object; live channels are /live/1/index.m3u8 ... /live/\(configuration.channels)/index.m3u8\n")
        }
        var headers: HTTPHeaders = ["Date": HTTPDate.format(now)]
        let body: ByteBuffer
        let etag: String
        switch item {
        case .master(let channel):
            body = ByteBuffer(string: catalog.masterPlaylist())
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
            var segment = segmentTemplates[variant]
            let stamp = "ecdn channel=\(channel) variant=\(variant) seq=\(sequence)"
            segment.setString(stamp, at: 4)
            body = segment
            etag = "\"s\(channel)-\(variant)-\(sequence)\""
            headers.add(name: "Content-Type", value: "video/mp2t")
            headers.add(name: "Cache-Control", value: "public, max-age=31536000, immutable")
            headers.add(name: "Last-Modified", value: HTTPDate.format(catalog.completionTime(of: sequence)))
        case .vod(let name, let size):
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            buffer.writeString("ecdn vod \(name) \(size)\n")
            buffer.writeRepeatingByte(0x2E, count: size - buffer.readableBytes)
            body = buffer
            etag = "\"v-\(name)-\(size)\""
            headers.add(name: "Content-Type", value: "video/mp4")
            headers.add(name: "Cache-Control", value: "public, max-age=86400")
            headers.add(name: "Last-Modified", value: HTTPDate.format(catalog.epoch))
        }
        headers.add(name: "ETag", value: etag)
        if let inm = request.headers.first(name: "If-None-Match"), inm.split(separator: ",").contains(where: { $0.trimmedSpaces() == etag || $0.trimmedSpaces() == "*" }) {
            return HTTPResponse(status: .notModified, headers: headers)
        }
        return HTTPResponse(status: .ok, headers: headers, body: body)
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
