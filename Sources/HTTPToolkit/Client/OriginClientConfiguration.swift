import NIOCore
import NIOSSL

/// Timeouts and pool limits of an ``OriginClient``.
package struct OriginClientConfiguration: Sendable {
    /// Time allowed to establish a TCP connection. Default 5 s.
    package var connectTimeout: TimeAmount
    /// Longest silence allowed while waiting for the response head or the next body bytes.
    /// Default 30 s.
    package var readTimeout: TimeAmount
    /// Idle keep-alive connections kept per origin; more are closed when released. Default 32.
    package var maxIdleConnectionsPerOrigin: Int
    /// How long an idle pooled connection is kept before it is closed. Default 60 s.
    package var idleConnectionTimeout: TimeAmount
    /// How long a pooled connection stays idle before it gives back its spare receive buffers
    /// (a connection reused sooner keeps them, as a busy one should). Default 1 s.
    package var idleBufferRelease: TimeAmount
    /// The TLS client of `https://` origins (its trust roots check their certificates); nil
    /// refuses them. Default nil.
    package var tls: NIOSSLContext?

    /// Creates a configuration.
    /// - Parameters:
    ///   - connectTimeout: connect timeout; default 5 s.
    ///   - readTimeout: read (idle) timeout during a response; default 30 s.
    ///   - maxIdleConnectionsPerOrigin: pooled idle connections per origin; default 32.
    ///   - idleConnectionTimeout: lifetime of an idle pooled connection; default 60 s.
    ///   - idleBufferRelease: idle time before a pooled connection gives back its spare receive
    ///     buffers; default 1 s.
    ///   - tls: the TLS client of `https://` origins; default nil.
    package init(
        connectTimeout: TimeAmount = .seconds(5),
        readTimeout: TimeAmount = .seconds(30),
        maxIdleConnectionsPerOrigin: Int = 32,
        idleConnectionTimeout: TimeAmount = .seconds(60),
        idleBufferRelease: TimeAmount = .seconds(1),
        tls: NIOSSLContext? = nil
    ) {
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.maxIdleConnectionsPerOrigin = maxIdleConnectionsPerOrigin
        self.idleConnectionTimeout = idleConnectionTimeout
        self.idleBufferRelease = idleBufferRelease
    }
}
