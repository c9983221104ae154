import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Prometheus
import SHFS

@testable import MiniCacheServer

/// A real volume, its holder and a cache store, without a server: for the store's tests.
struct CacheStoreFixture {
    let volume: TestVolume
    let holder: MountedVolume
    let store: CacheStore
    let stats: ServerStats
    let prometheus: PrometheusCollectorRegistry

    init(volume: TestVolume, configuration: CacheStoreConfiguration = CacheStoreConfiguration()) throws {
        self.volume = volume
        var logger = Logger(label: "cache-store-test")
        logger.logLevel = .error
        self.prometheus = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: self.prometheus)
        self.stats = ServerStats(startTime: 0, factory: factory)
        self.holder = try MountedVolume(
            path: volume.path, configuration: ServerConfiguration(), registry: StatsRegistry(), stats: self.stats, logger: logger)
        self.store = CacheStore(volumes: self.holder, logger: logger, configuration: configuration, metricsFactory: factory)
    }

    static func digest(_ url: String) -> CacheDigest {
        CacheDigest.sha256(of: Array(url.utf8))
    }

    /// A deterministic body for `url`.
    static func body(_ url: String, size: Int) -> [UInt8] {
        TestVolume.bytes(size, seed: UInt8(truncatingIfNeeded: url.utf8.reduce(0) { $0 &* 31 &+ Int($1) }))
    }

    static func response(size: Int) -> StoredResponse {
        var response = StoredResponse(
            requestHeaders: [:],
            response: HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Cache-Control": "max-age=600", "Content-Type": "video/mp2t"]),
            requestTime: Int64(time(nil)),
            responseTime: Int64(time(nil))
        )
        response.bodyLength = UInt64(size)
        return response
    }

    /// Stores `url` with its deterministic body; true when the store kept it.
    @discardableResult
    func put(_ url: String, size: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            self.store.store(
                digest: Self.digest(url), response: Self.response(size: size), url: url, body: Self.body(url, size: size)
            ) { continuation.resume(returning: $0) }
        }
    }

    /// The prepared object stored for `url` in the current mount.
    func object(_ url: String) -> PreparedObject? {
        let mount = self.holder.current
        let hex = String(Self.digest(url).description.prefix(mount.digestHexLength))
        return mount.byDigest.lookup(Array(hex.utf8)).map { mount.objects[$0] }
    }

    /// The body of `url` as the current mount serves it (memory or volume file).
    func servedBody(_ url: String) -> [UInt8]? {
        guard let object = self.object(url), object.cached != nil else { return nil }
        if let body = object.body { return Array(body.readableBytesView) }
        return Self.read(self.holder.current, offset: object.fileOffset, length: Int(object.length))
    }

    static func read(_ mount: Mount, offset: Int64, length: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: length)
        let n = bytes.withUnsafeMutableBytes { pread(mount.fileDescriptor, $0.baseAddress, length, off_t(offset)) }
        return n == length ? bytes : nil
    }

    func stop() async {
        await self.store.shutdown()
    }
}
