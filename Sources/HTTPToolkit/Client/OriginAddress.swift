/// Where an origin listens: the unit of connection pooling.
package struct OriginAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address.
    package var host: String
    /// TCP port.
    package var port: Int
    /// The origin speaks HTTPS: connections are TLS, its certificate checked against the
    /// client's trust roots and ``host``.
    package var isSecure: Bool

    /// Creates an address.
    package init(host: String, port: Int, isSecure: Bool = false) {
        self.host = host
        self.port = port
        self.isSecure = isSecure
    }

    /// The value of the `Host` field for requests to this origin (IPv6 hosts in brackets, the
    /// port left out when it is the scheme's default).
    package var hostField: String {
        port == (isSecure ? 443 : 80) ? HostPort.literal(host) : "\(HostPort.literal(host)):\(port)"
    }

    /// The name sent in the TLS server-name extension: the host, unless it is an IP address
    /// (then the certificate must name the address).
    package var serverName: String? {
        host.contains(":") || host.allSatisfy({ $0 == "." || $0.isNumber }) ? nil : host
    }

    /// `host:port` (`https://host:port` for a TLS origin), IPv6 hosts in brackets.
    package var description: String { isSecure ? "https://\(HostPort.literal(host)):\(port)" : "\(HostPort.literal(host)):\(port)" }
}
