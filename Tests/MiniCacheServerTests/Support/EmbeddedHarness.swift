import HTTPToolkit
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Prometheus

@testable import MiniCacheServer

/// A connection handler on an `EmbeddedChannel`, over a real mounted volume.
final class EmbeddedHarness {
    let channel = EmbeddedChannel()
    let server: ServerContext

    /// What the handlers of a test share: the mounted volume, statistics, link fetcher.
    static func makeServer(volume: String, configuration: ServerConfiguration = TestServer.configuration()) throws -> ServerContext {
        let logger = Logger(label: "embedded-test")
        let stats = ServerStats(startTime: 0, factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
        let registry = StatsRegistry()
        return ServerContext(
            configuration: configuration,
            volumes: try MountedVolume(path: volume, configuration: configuration, registry: registry, stats: stats, logger: logger),
            stats: stats,
            registry: registry,
            upstream: UpstreamRelay(group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(1), stats: stats, logger: logger),
            connections: ConnectionRegistry(),
            logger: logger
        )
    }

    convenience init(volume: String) throws {
        try self.init(server: try Self.makeServer(volume: volume))
    }

    init(server: ServerContext) throws {
        self.server = server
        try self.channel.pipeline.syncOperations.addHandler(HTTPConnectionHandler(server: self.server, dates: DateCache()))
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    /// Delivers bytes as one read batch.
    func receive(_ bytes: [UInt8]) throws {
        var buffer = self.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try self.channel.writeInbound(buffer)
        self.channel.pipeline.fireChannelReadComplete()
    }

    func receive(_ text: String) throws { try self.receive(Array(text.utf8)) }

    /// Outbound writes so far, one element per write.
    func writes() throws -> [[UInt8]] {
        var result: [[UInt8]] = []
        while let data = try self.channel.readOutbound(as: IOData.self) {
            switch data {
            case .byteBuffer(let buffer): result.append(Array(buffer.readableBytesView))
            case .fileRegion(let region): result.append(Array(repeating: 0, count: region.readableBytes))
            }
        }
        return result
    }

    /// Everything written, without `Date` lines (they change every second).
    func output() throws -> String {
        let text = String(decoding: try self.writes().flatMap { $0 }, as: UTF8.self)
        return text.split(separator: "\r\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
    }
}
