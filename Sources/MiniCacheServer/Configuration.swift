import NIOCore

/// How large objects are written to the network.
public enum LargeObjectStrategy: String, Sendable, CaseIterable {
    /// `sendfile(2)` through NIO `FileRegion`.
    case sendfile
    /// `pread(2)` into pooled buffers, then ordinary writes.
    case read
}

/// Settings of a ``MiniCacheServer``. Every value has a default that works.
public struct ServerConfiguration: Sendable {
    /// Host and port to serve HTTP on. Default `0.0.0.0:8080`; port 0 picks a free port.
    public var host: String
    public var port: Int
    /// Serve plain HTTP on `host:port`; false serves HTTPS only (with ``tls``). Default true.
    public var listensPlain: Bool
    /// The HTTPS listener (HTTP/1.1 and HTTP/2), beside or instead of the plain one; nil for
    /// none (default).
    public var tls: TLSListenerConfiguration?
    /// Event-loop threads. Default: the number of cores.
    public var threads: Int
    /// Connections served at once; more are answered `503` and closed. Default 10,000.
    public var maxConnections: Int
    /// A keep-alive connection with no request for this long is closed, and so is a connection
    /// whose client stops reading a streamed body for this long. Default 60 s.
    public var idleTimeout: TimeAmount
    /// A request head must arrive completely within this time from its first byte (and a new
    /// connection must send one within it). Default 10 s.
    public var headerTimeout: TimeAmount
    /// Admin listener (status, objects, metrics, remount, prefetch); nil for none.
    /// Default `127.0.0.1:9080`.
    public var adminHost: String?
    public var adminPort: Int
    /// The bearer token every admin request must carry (`Authorization: Bearer …`); required
    /// when the admin listener is not on loopback. Default nil.
    public var adminToken: String?
    /// Objects up to this size are kept in memory with their response head. Default 64 KiB.
    public var smallObjectLimit: Int
    /// Total bytes of small objects kept in memory; the rest are read on demand. Default 256 MiB.
    public var memoryBudget: Int
    /// How larger objects are sent. Default ``LargeObjectStrategy/sendfile``: on loopback here it
    /// matched or beat pooled reads in Gb/s at a quarter of the CPU (scripts/bench-minicache.sh).
    public var largeObjectStrategy: LargeObjectStrategy
    /// Bytes handed to the network per step of a large transfer. Default 1 MiB.
    public var streamChunkSize: Int
    /// How often the volume file is checked for changes; nil disables the watch. Default 1 s.
    public var watchInterval: TimeAmount?
    /// Limits on the request line and the header section (414 / 431).
    public var maxRequestLineLength: Int
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    /// Upstream connect and first-byte timeout for raw/auto links (504 after it). Default 10 s.
    public var upstreamTimeout: TimeAmount
    /// Log one line per request at `info`. Default off.
    public var accessLog: Bool
    /// The `Server` field. Default `minicache`.
    public var serverName: String
    /// `http://host[:port]` of the origin a pull-through cache fetches misses from; nil serves the
    /// volume only (default).
    public var origin: String?
    /// A PEM file of the CA certificates `https://` origins are checked against, instead of the
    /// system's trust roots. Default nil.
    public var originCA: String?
    /// The largest response body a pull-through cache stores (larger ones stream through); 64 MiB.
    public var maxStoredObjectSize: Int
    /// Bytes of a relayed body kept for one HTTP/1 client that reads slower than upstream sends
    /// (the buffers are shared with the other clients of the same fetch, not copied); a client
    /// further behind is cut. The origin is read at the pace of the fastest client of a fetch.
    /// Default 64 MiB.
    public var maxRelayBacklog: Int
    /// A pull-through cache also obeys `Surrogate-Control` (W3C Edge Architecture; after
    /// `CDN-Cache-Control`, which it always obeys) and announces itself with
    /// `Surrogate-Capability`. Default off.
    public var surrogateControl: Bool

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        threads: Int = System.coreCount,
        maxConnections: Int = 10_000,
        idleTimeout: TimeAmount = .seconds(60),
        headerTimeout: TimeAmount = .seconds(10),
        adminHost: String? = "127.0.0.1",
        adminPort: Int = 9080,
        smallObjectLimit: Int = 64 * 1024,
        memoryBudget: Int = 256 * 1024 * 1024,
        largeObjectStrategy: LargeObjectStrategy = .sendfile,
        streamChunkSize: Int = 1 << 20,
        watchInterval: TimeAmount? = .seconds(1),
        maxRequestLineLength: Int = 8192,
        maxHeaderBytes: Int = 16384,
        maxHeaderCount: Int = 100,
        upstreamTimeout: TimeAmount = .seconds(10),
        accessLog: Bool = false,
        serverName: String = "minicache",
        origin: String? = nil,
        maxStoredObjectSize: Int = 64 << 20,
        maxRelayBacklog: Int = 64 << 20,
        surrogateControl: Bool = false,
        listensPlain: Bool = true,
        tls: TLSListenerConfiguration? = nil,
        adminToken: String? = nil,
        originCA: String? = nil
    ) {
        self.originCA = originCA
        self.surrogateControl = surrogateControl
        self.adminToken = adminToken
        self.host = host
        self.port = port
        self.listensPlain = listensPlain
        self.tls = tls
        self.threads = threads
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.adminHost = adminHost
        self.adminPort = adminPort
        self.smallObjectLimit = smallObjectLimit
        self.memoryBudget = memoryBudget
        self.largeObjectStrategy = largeObjectStrategy
        self.streamChunkSize = streamChunkSize
        self.watchInterval = watchInterval
        self.maxRequestLineLength = maxRequestLineLength
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.upstreamTimeout = upstreamTimeout
        self.accessLog = accessLog
        self.serverName = serverName
        self.origin = origin
        self.maxStoredObjectSize = maxStoredObjectSize
        self.maxRelayBacklog = maxRelayBacklog
    }
}
