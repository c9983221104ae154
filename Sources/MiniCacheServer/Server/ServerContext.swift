import Logging

/// What every connection of one server shares.
package final class ServerContext: Sendable {
    package let configuration: ServerConfiguration
    package let volumes: VolumeHolder
    package let stats: ServerStats
    package let registry: StatsRegistry
    package let links: LinkFetcher
    /// The pull-through cache, when an origin is configured.
    package let cache: PullThroughCache?
    package let connections: ConnectionRegistry
    package let parser: HTTPRequestParser
    package let logger: Logger

    package init(
        configuration: ServerConfiguration,
        volumes: VolumeHolder,
        stats: ServerStats,
        registry: StatsRegistry,
        links: LinkFetcher,
        cache: PullThroughCache? = nil,
        connections: ConnectionRegistry,
        logger: Logger
    ) {
        self.configuration = configuration
        self.volumes = volumes
        self.stats = stats
        self.registry = registry
        self.links = links
        self.cache = cache
        self.connections = connections
        self.parser = HTTPRequestParser(
            maxRequestLineLength: configuration.maxRequestLineLength,
            maxHeaderBytes: configuration.maxHeaderBytes,
            maxHeaderCount: configuration.maxHeaderCount
        )
        self.logger = logger
    }
}
