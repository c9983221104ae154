import Logging
import MiniCacheServer
import NIOCore
import Prometheus

/// A server on 127.0.0.1 with free ports, for one test.
struct TestServer {
    let server: MiniCacheServer
    let port: Int
    let adminPort: Int
    /// The TLS listener's port (0 without one).
    let tlsPort: Int
    let prometheus: PrometheusCollectorRegistry

    static func configuration(_ change: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, threads: 2, adminHost: "127.0.0.1", adminPort: 0)
        configuration.watchInterval = nil
        change(&configuration)
        return configuration
    }

    static func start(volume: String, logger given: Logger? = nil, _ change: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        let prometheus = PrometheusCollectorRegistry()
        var logger = given ?? Logger(label: "minicache-test")
        if given == nil { logger.logLevel = .warning }
        let server = try MiniCacheServer(
            volumePath: volume,
            configuration: Self.configuration(change),
            logger: logger,
            metricsFactory: PrometheusMetricsFactory(registry: prometheus),
            prometheus: prometheus
        )
        let addresses = try await server.start()
        return TestServer(
            server: server,
            port: addresses.data.port!,
            adminPort: addresses.admin?.port ?? 0,
            tlsPort: addresses.tls?.port ?? 0,
            prometheus: prometheus
        )
    }

    /// Runs `body` against a started server and always shuts it down.
    static func with(
        volume: String,
        logger: Logger? = nil,
        _ change: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (TestServer) async throws -> Void
    ) async throws {
        let server = try await Self.start(volume: volume, logger: logger, change)
        do {
            try await body(server)
        } catch {
            await server.server.shutdown(grace: .seconds(1))
            throw error
        }
        await server.server.shutdown(grace: .seconds(5))
    }
}
