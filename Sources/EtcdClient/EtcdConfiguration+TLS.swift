#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCNIOTransportHTTP2
import NIOSSL

extension EtcdConfiguration.TLS {
    /// Reads and checks every file now, as the client does when it is made: a command can refuse
    /// a bad file before it starts anything.
    /// - Throws: ``EtcdError`` `badTLS`, one line naming the file and what is wrong with it.
    public func check() throws(EtcdError) {
        _ = try transportSecurity()
    }

    /// The transport security of the client's connections, from the files checked.
    func transportSecurity() throws(EtcdError) -> HTTP2ClientTransport.Posix.TransportSecurity {
        var trustRoots = TLSConfig.TrustRootsSource.systemDefault
        if let caFile {
            let pem = try Self.certificates(in: caFile, role: "CA file").pem
            trustRoots = .certificates([.bytes(pem, format: .pem)])
        }
        var chain: [TLSConfig.CertificateSource] = []
        var privateKey: TLSConfig.PrivateKeySource?
        switch (certificateFile, keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, nil):
            throw EtcdError(.badTLS, "the etcd client certificate \(certificateFile) was given without its key file")
        case (nil, let keyFile?):
            throw EtcdError(.badTLS, "the etcd client key \(keyFile) was given without its certificate file")
        case (let certificateFile?, let keyFile?):
            let certificates = try Self.certificates(in: certificateFile, role: "client certificate")
            let keyPEM = try Self.contents(of: keyFile, role: "client key")
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(bytes: keyPEM, format: .pem)
            } catch {
                throw EtcdError(.badTLS, "the etcd client key \(keyFile) holds no unencrypted PEM private key", underlying: error)
            }
            // The TLS library refuses a key that does not belong to the certificate.
            var probe = TLSConfiguration.makeClientConfiguration()
            probe.certificateChain = certificates.parsed.map { .certificate($0) }
            probe.privateKey = .privateKey(key)
            do {
                _ = try NIOSSLContext(configuration: probe)
            } catch {
                throw EtcdError(.badTLS, "the etcd client key \(keyFile) is not the key of the certificate \(certificateFile)", underlying: error)
            }
            chain = [.bytes(certificates.pem, format: .pem)]
            privateKey = .bytes(keyPEM, format: .pem)
        }
        return .tls(HTTP2ClientTransport.Posix.TransportSecurity.TLS(
            certificateChain: chain, privateKey: privateKey, serverCertificateVerification: .fullVerification, trustRoots: trustRoots
        ))
    }

    /// What to do about a failed TLS connection, from the TLS library's error.
    func advice(for failure: String) -> String {
        let trusted = caFile.map { "the CA in \($0)" } ?? "the system's trust roots (give the CA that signed it)"
        if failure.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the member's certificate is not signed by \(trusted), or has expired"
        }
        if failure.lowercased().contains("hostname") {
            return "the member's certificate does not name \(serverName.map { "'\($0)'" } ?? "the address it was reached at")"
        }
        if failure.contains("CERTIFICATE_REQUIRED") || failure.contains("BAD_CERTIFICATE") || failure.contains("UNKNOWN_CA") {
            guard let certificateFile else {
                return "the member requires a client certificate (etcd --client-cert-auth): give one signed by its --trusted-ca-file, and its key"
            }
            return "the member refused the client certificate \(certificateFile): it must be signed by the CA in the member's --trusted-ca-file and allow client authentication"
        }
        let plainText = "use etcd:// endpoints, or start etcd with https:// client URLs"
        if failure.contains("WRONG_VERSION_NUMBER") || failure.contains("PACKET_LENGTH_TOO_LONG") || failure.contains("HTTP_REQUEST") {
            return "the member does not speak TLS on this port: \(plainText)"
        }
        // A member in plain text closes the connection on the TLS hello without a word.
        if failure.hasSuffix(ConnectionFailureRecorder.closedInTLSHandshake) || failure.hasSuffix(ConnectionFailureRecorder.closedUnanswered) {
            return "the member closed the connection in the TLS handshake without a TLS alert, so it likely does not speak TLS on this port: \(plainText)"
        }
        return "check the member's certificate and \(trusted)"
    }

    /// The certificates of a PEM file, parsed and as the file's bytes.
    private static func certificates(in path: String, role: String) throws(EtcdError) -> (pem: [UInt8], parsed: [NIOSSLCertificate]) {
        let pem = try contents(of: path, role: role)
        let parsed: [NIOSSLCertificate]
        do {
            parsed = try NIOSSLCertificate.fromPEMBytes(pem)
        } catch {
            throw EtcdError(.badTLS, "the etcd \(role) \(path) is not a PEM certificate file", underlying: error)
        }
        guard !parsed.isEmpty else {
            throw EtcdError(.badTLS, "the etcd \(role) \(path) holds no certificate (no -----BEGIN CERTIFICATE----- block)")
        }
        for certificate in parsed where certificate.notValidAfter < time(nil) {
            let end = Date(timeIntervalSince1970: Double(certificate.notValidAfter))
            throw EtcdError(.badTLS, "the etcd \(role) \(path) holds a certificate that expired at \(end)")
        }
        return (pem, parsed)
    }

    /// The bytes of `path`, or an error that names it and says why it cannot be read.
    private static func contents(of path: String, role: String) throws(EtcdError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EtcdError(.badTLS, "cannot read the etcd \(role) \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw EtcdError(.badTLS, "cannot read the etcd \(role) \(path): \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= maxFileSize else {
                throw EtcdError(.badTLS, "the etcd \(role) \(path) is larger than \(maxFileSize) bytes: not a PEM file")
            }
        }
        guard !bytes.isEmpty else { throw EtcdError(.badTLS, "the etcd \(role) \(path) is empty") }
        return bytes
    }

    private static let maxFileSize = 1 << 20
}
