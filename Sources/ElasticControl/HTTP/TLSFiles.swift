import NIOSSL

/// The certificate and key (PEM files) the control plane serves HTTPS with, and the CA file its
/// clients trust: the router, the API and dashboard, the caches it starts and the demo origin
/// (`ecdn up --tls`).
public struct TLSFiles: Sendable, Equatable {
    /// The server's certificate chain, leaf first.
    public var certificate: String
    /// The certificate's private key.
    public var key: String
    /// The CA that signed ``certificate``: the control plane's own clients trust it.
    public var ca: String

    public init(certificate: String, key: String, ca: String) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
    }

    /// A server context for HTTP/1.1 over TLS 1.2 or 1.3.
    /// - Throws: ``ControlError`` `badConfiguration` naming the file that cannot be loaded.
    package func serverContext() throws(ControlError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(self.certificate)
        } catch {
            throw ControlError(.badConfiguration, "cannot load the certificate \(self.certificate): \(error); give a PEM certificate chain", underlying: error)
        }
        do {
            key = try NIOSSLPrivateKey(file: self.key, format: .pem)
        } catch {
            throw ControlError(.badConfiguration, "cannot load the private key \(self.key): \(error); give a PEM private key", underlying: error)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ControlError(.badConfiguration, "the key \(self.key) does not match the certificate \(self.certificate): \(error)", underlying: error)
        }
    }

    /// A client context that trusts ``ca``.
    /// - Throws: ``ControlError`` `badConfiguration` when the CA file cannot be loaded.
    package func clientContext() throws(ControlError) -> NIOSSLContext {
        try HTTPClient.trusting(caFile: self.ca)
    }
}
