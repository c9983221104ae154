/// A tenant: one virtual CDN on the shared sites.
public struct TenantConfiguration: Sendable, Equatable {
    /// Name, e.g. `default`.
    public var name: String
    /// The origin instances fill from, `http://host:port`.
    public var origin: String
    /// Host names (the `Host` header, port ignored) that select this tenant.
    public var hostnames: [String]
    /// A path prefix that selects this tenant when no host name matched, e.g. `/vod/`; `/` matches all.
    public var pathPrefix: String
    /// Instances of this tenant per site. Default 2.
    public var quotaPerSite: Int

    public init(name: String, origin: String, hostnames: [String] = [], pathPrefix: String = "/", quotaPerSite: Int = 2) {
        self.name = name
        self.origin = origin
        self.hostnames = hostnames
        self.pathPrefix = pathPrefix
        self.quotaPerSite = quotaPerSite
    }
}
