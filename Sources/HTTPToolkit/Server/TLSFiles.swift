import NIOSSL

/// The certificate and key (PEM files) a listener serves HTTPS with, and the CA file its clients
/// trust: the control plane's router, API and dashboard, the caches it starts and the demo origin
/// (`ecdn up --tls`).
public struct TLSFiles: Sendable, Equatable {
    /// The server's certificate chain, leaf first.
    public var certificate: String
    /// The certificate's private key.
    public var key: String
    /// The CA that signed ``certificate``: the clients of these listeners trust it.
    public var ca: String

    public init(certificate: String, key: String, ca: String) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
    }

    /// A server context for HTTP/1.1 over TLS 1.2 or 1.3.
    /// - Throws: ``TLSFilesError`` naming the file that cannot be loaded.
    package func serverContext() throws(TLSFilesError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(self.certificate)
        } catch {
            throw TLSFilesError("cannot load the certificate \(self.certificate): \(error); give a PEM certificate chain", cause: error)
        }
        do {
            key = try NIOSSLPrivateKey(file: self.key, format: .pem)
        } catch {
            throw TLSFilesError("cannot load the private key \(self.key): \(error); give a PEM private key", cause: error)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFilesError("the key \(self.key) does not match the certificate \(self.certificate): \(error)", cause: error)
        }
    }

    /// A client context that trusts ``ca``.
    /// - Throws: ``TLSFilesError`` when the CA file cannot be loaded.
    package func clientContext() throws(TLSFilesError) -> NIOSSLContext {
        try Self.clientContext(trusting: self.ca)
    }

    /// A client context that trusts the CA certificates in `caFile` (PEM).
    /// - Throws: ``TLSFilesError`` when the file cannot be loaded.
    package static func clientContext(trusting caFile: String) throws(TLSFilesError) -> NIOSSLContext {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFilesError("cannot use \(caFile) as a CA file: \(error); give a PEM certificate", cause: error)
        }
    }
}
