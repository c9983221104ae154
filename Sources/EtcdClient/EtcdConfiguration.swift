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
    /// TLS to every member (etcd's `https://` client URLs); nil: plain text. Default nil.
    public var tls: TLS?
    /// A user of etcd's authentication (a cluster with `auth enable`): the client asks etcd for
    /// a token with it and sends the token with every request. Default nil (none).
    public var credentials: Credentials?

    public init(
        endpoints: [Endpoint],
        tls: TLS? = nil,
        credentials: Credentials? = nil,
        requestTimeout: Duration = .seconds(3),
        maxReconnectDelay: Duration = .milliseconds(500),
        keepaliveInterval: Duration = .seconds(15),
        keepaliveTimeout: Duration = .seconds(5)
    ) {
        self.endpoints = endpoints
        self.tls = tls
        self.credentials = credentials
        self.requestTimeout = requestTimeout
        self.maxReconnectDelay = maxReconnectDelay
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
    }

    /// Parses `etcd://HOST:PORT[,HOST:PORT...]` or `http://...` (plain text), `https://...` (TLS,
    /// verified against the system's trust roots until ``TLS/caFile`` is set); the scheme may
    /// also be repeated before every endpoint, as etcdctl's `--endpoints` writes them, and is
    /// `etcd://` when left out. IPv4 addresses and `localhost` only.
    /// - Throws: ``EtcdError`` `badEndpoint` with what is wrong.
    public init(url: String) throws(EtcdError) {
        var endpoints: [Endpoint] = []
        var secure: Bool?
        for var part in url.split(separator: ",") {
            let scheme = Self.schemes.first { part.hasPrefix($0.prefix) }
            if let scheme { part = part.dropFirst(scheme.prefix.count) }
            if part.hasSuffix("/") { part = part.dropLast() }
            if let scheme = scheme?.tls {
                guard secure == nil || secure == scheme else {
                    throw EtcdError(.badEndpoint, "'\(url)' mixes https:// and plain-text endpoints; every member of a cluster is reached the same way")
                }
                secure = scheme
            }
            let pieces = part.split(separator: ":")
            guard pieces.count == 2, let port = Int(pieces[1]), (1...65535).contains(port), !pieces[0].isEmpty else {
                throw EtcdError(.badEndpoint, "'\(part)' in '\(url)' is not HOST:PORT; write etcd://127.0.0.1:2379[,HOST:PORT...] (https:// for TLS)")
            }
            let host = pieces[0] == "localhost" ? "127.0.0.1" : String(pieces[0])
            guard IPv4.parse(host) != nil else {
                throw EtcdError(.badEndpoint, "'\(host)' in '\(url)' is not an IPv4 address; etcd endpoints are given by address")
            }
            endpoints.append(Endpoint(host: host, port: port))
        }
        guard !endpoints.isEmpty else {
            throw EtcdError(.badEndpoint, "'\(url)' names no endpoint; write etcd://127.0.0.1:2379[,HOST:PORT...] (https:// for TLS)")
        }
        self.init(endpoints: endpoints, tls: secure == true ? TLS() : nil)
    }

    /// The schemes ``init(url:)`` takes, and whether each means TLS.
    private static let schemes: [(prefix: String, tls: Bool)] = [("etcd://", false), ("http://", false), ("https://", true)]

    /// `etcd://host:port,host:port`, or `https://host:port,host:port` with TLS.
    public var url: String { (tls == nil ? "etcd://" : "https://") + endpoints.map(\.description).joined(separator: ",") }
}

extension EtcdConfiguration {
    /// TLS to the members: what the server side sets with etcd's `--cert-file`/`--key-file`,
    /// and, when it runs with `--client-cert-auth`, the client certificate it asks for.
    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA certificate(s) that signed the members' certificates; nil: the
        /// system's trust roots.
        public var caFile: String?
        /// PEM file of this client's certificate (and its chain), for members that require one
        /// (`--client-cert-auth`); it must allow client authentication and be signed by a CA in
        /// the members' `--trusted-ca-file`. Given with ``keyFile``.
        public var certificateFile: String?
        /// PEM file of the private key of ``certificateFile``.
        public var keyFile: String?
        /// The name the members' certificates must carry; nil: the address of each endpoint
        /// (certificates made for IP addresses, as etcd's own guides make them).
        public var serverName: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }
    }
}

extension EtcdConfiguration {
    /// A user's name and password for etcd's authentication.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        public var user: String
        public var password: String

        public init(user: String, password: String) {
            self.user = user
            self.password = password
        }

        /// The user, never the password.
        public var description: String { "user \(user)" }
    }
}
