import NIOCore

extension HTTPConnectionHandler {
    /// Relays a cache miss from the origin: joins the fetch in flight for the key or starts one
    /// whose complete, storable response the cache keeps.
    func startMiss(
        _ cache: PullThroughCache,
        key: CacheKey,
        target: String,
        isGet: Bool,
        keepAlive: Bool,
        minorVersion: UInt8,
        stale: PreparedObject?,
        context: ChannelHandlerContext
    ) {
        let request = cache.originRequest(target: target)
        let fetcher = self.server.links
        let stats = self.server.stats
        self.startRelay(
            commonFields: "Server: \(self.server.configuration.serverName)\r\nX-Cache: MISS\r\n",
            counters: nil,
            isGet: isGet,
            keepAlive: keepAlive,
            minorVersion: minorVersion,
            context: context,
            fallback: stale
        ) { deliver in
            let subscription = fetcher.subscribe(
                key: "cache \(key.primaryDigest)",
                request: request,
                origin: cache.origin,
                on: context.eventLoop,
                recorder: cache.recorder(for: key, request: request),
                deliver: deliver
            )
            stats.cacheMiss(coalesced: !subscription.isNew)
            return subscription
        }
    }
}
