import HTTPToolkit

/// The viewers' entry point.
public struct RouterConfiguration: Sendable {
    /// Address to listen on. Default 127.0.0.1 (reachable from every 127.0.N.x on Linux).
    public var host: String
    /// Port; 0 picks a free one. Default 8000.
    public var port: Int
    /// Client prefix to site; nil builds it from the sites' client prefixes.
    public var prefixTable: PrefixTable?
    /// Serve HTTPS with this certificate. Default nil (HTTP).
    public var tls: TLSFiles?

    public init(host: String = "127.0.0.1", port: Int = 8000, prefixTable: PrefixTable? = nil, tls: TLSFiles? = nil) {
        self.tls = tls
        self.host = host
        self.port = port
        self.prefixTable = prefixTable
    }
}
