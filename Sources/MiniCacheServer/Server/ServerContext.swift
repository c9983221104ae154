import Logging

/// What every connection of one server shares.
package final class ServerContext: Sendable {
    package let configuration: ServerConfiguration
    package let volumes: MountedVolume
    package let stats: ServerStats
    package let registry: StatsRegistry
    package let upstream: UpstreamRelay
    /// The pull-through cache, when an origin is configured.
    package let cache: PullThroughCache?
    package let connections: ConnectionRegistry
    /// The TLS listener's certificates, when it has one.
    package let certificates: CertificateStore?
    package let parser: HTTPRequestParser
    /// Turns requests into response plans.
    package let responder: Responder
    package let logger: Logger

    package init(
        configuration: ServerConfiguration,
        volumes: MountedVolume,
        stats: ServerStats,
        registry: StatsRegistry,
        upstream: UpstreamRelay,
        cache: PullThroughCache? = nil,
        connections: ConnectionRegistry,
        certificates: CertificateStore? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.volumes = volumes
        self.stats = stats
        self.registry = registry
        self.upstream = upstream
        self.cache = cache
        self.connections = connections
        self.certificates = certificates
        self.parser = HTTPRequestParser(
            maxRequestLineLength: configuration.maxRequestLineLength,
            maxHeaderBytes: configuration.maxHeaderBytes,
            maxHeaderCount: configuration.maxHeaderCount
        )
        self.responder = Responder(
            cache: cache.map { CacheResponder(cache: $0, upstream: upstream, stats: stats, serverName: configuration.serverName) },
            upstream: upstream,
            registry: registry
        )
        self.logger = logger
    }
}
