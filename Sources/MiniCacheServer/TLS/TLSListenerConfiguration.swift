/// Settings of the TLS listener (HTTPS, with HTTP/2 by ALPN). Every value has a default that works
/// except the certificates, of which one is needed.
public struct TLSListenerConfiguration: Sendable, Equatable {
    /// A certificate chain and its private key, as PEM files.
    public struct CertificateFiles: Sendable, Equatable {
        /// The server's certificate first, then any intermediates.
        public var certificate: String
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// What a client gets whose server name (SNI) matches no certificate.
    public enum UnknownServerName: String, Sendable, CaseIterable {
        /// The first certificate (a client that checks names will refuse it).
        case defaultCertificate = "default"
        /// A fatal `unrecognized_name` alert, and the connection is closed.
        case reject
    }

    /// The lowest protocol version accepted; TLS 1.3 is always offered.
    public enum MinimumVersion: String, Sendable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// TLS 1.2 suites offered by default: ECDHE key exchange and AEAD ciphers only (TLS 1.3's
    /// suites are fixed by BoringSSL: AES-GCM and ChaCha20-Poly1305).
    public static let modernCipherSuites =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// Host and port of the TLS listener; port 0 picks a free port. Default `0.0.0.0:8443`.
    public var host: String
    public var port: Int
    /// The certificates; the server name (SNI) picks the one whose names match, the first one
    /// answers clients that send no name.
    public var certificates: [CertificateFiles]
    /// Default ``UnknownServerName/defaultCertificate``.
    public var unknownServerName: UnknownServerName
    /// Default ``MinimumVersion/tls12``.
    public var minimumVersion: MinimumVersion
    /// OpenSSL-style list of TLS 1.2 suites. Default ``modernCipherSuites``.
    public var cipherSuites: String
    /// Offer HTTP/2 (ALPN `h2`, then `http/1.1`). Default true.
    public var http2: Bool
    /// HTTP/2 limits: streams open at once per connection (`SETTINGS_MAX_CONCURRENT_STREAMS`,
    /// default 100) and the decoded size of a request's header list (default 16 KiB, as HTTP/1.1's
    /// header section).
    public var maxConcurrentStreams: Int
    public var maxHeaderListSize: Int
    /// Seconds after which the session-ticket keys are replaced: every certificate's context is
    /// made again from its files (with the file watch on), so tickets issued before no longer
    /// resume and their clients' next handshake is a full one. nil (default): BoringSSL's own
    /// rotation, a new key every 48 hours with tickets of the previous key still accepted.
    public var ticketKeyRotation: Double?

    public init(
        host: String = "0.0.0.0",
        port: Int = 8443,
        certificates: [CertificateFiles],
        unknownServerName: UnknownServerName = .defaultCertificate,
        minimumVersion: MinimumVersion = .tls12,
        cipherSuites: String = TLSListenerConfiguration.modernCipherSuites,
        http2: Bool = true,
        maxConcurrentStreams: Int = 100,
        maxHeaderListSize: Int = 16384,
        ticketKeyRotation: Double? = nil
    ) {
        self.ticketKeyRotation = ticketKeyRotation
        self.host = host
        self.port = port
        self.certificates = certificates
        self.unknownServerName = unknownServerName
        self.minimumVersion = minimumVersion
        self.cipherSuites = cipherSuites
        self.http2 = http2
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxHeaderListSize = maxHeaderListSize
    }
}
