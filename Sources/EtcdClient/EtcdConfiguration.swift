import HTTPToolkit

/// Where the etcd cluster is and how patiently to talk to it.
public struct EtcdConfiguration: Sendable {
    /// One member's client address.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// The members' client addresses, tried in order; another member is used when one fails.
    public var endpoints: [Endpoint]
    /// Deadline of one unary request (get, put, transaction, lease grant). Default 3 s.
    public var requestTimeout: Duration
    /// Longest pause between reconnection attempts. Default 0.5 s, so a member that comes back
    /// (or a link that heals) is used again within about that.
    public var maxReconnectDelay: Duration
    /// HTTP/2 pings on an otherwise quiet connection, to notice a dead link (a cut cable sends no
    /// reset). etcd closes connections that ping more often than every 5 s (its
    /// `--grpc-keepalive-min-time`), so this stays well above. Default 15 s, 5 s to answer.
    public var keepaliveInterval: Duration
    public var keepaliveTimeout: Duration

    public init(
        endpoints: [Endpoint],
        requestTimeout: Duration = .seconds(3),
        maxReconnectDelay: Duration = .milliseconds(500),
        keepaliveInterval: Duration = .seconds(15),
        keepaliveTimeout: Duration = .seconds(5)
    ) {
        self.endpoints = endpoints
        self.requestTimeout = requestTimeout
        self.maxReconnectDelay = maxReconnectDelay
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
    }

    /// Parses `etcd://HOST:PORT[,HOST:PORT...]` (also without the scheme). IPv4 addresses and
    /// `localhost` only.
    /// - Throws: ``EtcdError`` `badEndpoint` with what is wrong.
    public init(url: String) throws(EtcdError) {
        var rest = Substring(url)
        if rest.hasPrefix("etcd://") { rest = rest.dropFirst("etcd://".count) }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var endpoints: [Endpoint] = []
        for part in rest.split(separator: ",") {
            let pieces = part.split(separator: ":")
            guard pieces.count == 2, let port = Int(pieces[1]), (1...65535).contains(port), !pieces[0].isEmpty else {
                throw EtcdError(.badEndpoint, "'\(part)' in '\(url)' is not HOST:PORT; write etcd://127.0.0.1:2379[,HOST:PORT...]")
            }
            let host = pieces[0] == "localhost" ? "127.0.0.1" : String(pieces[0])
            guard IPv4.parse(host) != nil else {
                throw EtcdError(.badEndpoint, "'\(host)' in '\(url)' is not an IPv4 address; etcd endpoints are given by address")
            }
            endpoints.append(Endpoint(host: host, port: port))
        }
        guard !endpoints.isEmpty else {
            throw EtcdError(.badEndpoint, "'\(url)' names no endpoint; write etcd://127.0.0.1:2379[,HOST:PORT...]")
        }
        self.init(endpoints: endpoints)
    }

    /// `etcd://host:port,host:port`.
    public var url: String { "etcd://" + endpoints.map(\.description).joined(separator: ",") }
}
