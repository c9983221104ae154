/// Where an origin listens: the unit of connection pooling.
package struct OriginAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address.
    package var host: String
    /// TCP port.
    package var port: Int

    /// Creates an address.
    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// The value of the `Host` field for requests to this origin (IPv6 hosts in brackets, the
    /// port left out when it is 80).
    package var hostField: String { port == 80 ? HostPort.literal(host) : "\(HostPort.literal(host)):\(port)" }

    /// `host:port`, IPv6 hosts in brackets.
    package var description: String { "\(HostPort.literal(host)):\(port)" }
}
