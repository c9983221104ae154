import NIOSSL

/// Where and how an ``HTTPServer`` listens.
package struct HTTPServerConfiguration: Sendable {
    /// The address to bind. Default `127.0.0.1`.
    package var host: String
    /// The port; 0 picks a free one. Default 0.
    package var port: Int
    /// The `Server` field of every response. Default `minicache`.
    package var serverName: String
    /// Request bodies larger than this are answered `413` and the connection closes. Default 1 MiB.
    package var maxBodySize: Int
    /// Connections waiting to be accepted. Default 256.
    package var backlog: Int32
    /// Serve HTTPS (HTTP/1.1 over TLS) with this server context. Default nil: plain HTTP.
    package var tls: NIOSSLContext?

    /// Creates a configuration; every parameter has the default documented on its property.
    package init(
        host: String = "127.0.0.1", port: Int = 0, serverName: String = "minicache", maxBodySize: Int = 1 << 20, backlog: Int32 = 256,
        tls: NIOSSLContext? = nil
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.serverName = serverName
        self.maxBodySize = maxBodySize
        self.backlog = backlog
    }
}
