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

    /// The value of the `Host` field for requests to this origin.
    package var hostField: String { port == 80 ? host : "\(host):\(port)" }

    package var description: String { "\(host):\(port)" }
}
