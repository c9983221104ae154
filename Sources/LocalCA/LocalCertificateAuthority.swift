#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import FoundationEssentials
import HTTPToolkit
import SwiftASN1
import X509

/// A certificate authority made on the spot, for demos and tests: it issues ECDSA P-256 server
/// certificates for the names given and writes everything as PEM files, so that a client can
/// trust the CA file (`curl --cacert ca.pem`) instead of the system roots.
///
/// Not for production: the CA key lives next to the certificates it signs.
public struct LocalCertificateAuthority: Sendable {
    /// A certificate and its private key, as PEM text.
    public struct Issued: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String
    }

    /// The CA's certificate (what clients trust), as PEM text.
    public let certificatePEM: String
    private let certificate: Certificate
    private let key: Certificate.PrivateKey

    /// Makes a new CA with a fresh P-256 key, valid from an hour ago for `days` days.
    /// - Throws: when the certificate cannot be built (never for these inputs).
    public init(name: String = "MiniCache local CA", days: Int = 30) throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now - 3600,
            notValidAfter: now + Double(days) * 86_400,
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key
        )
        self.key = key
        self.certificate = certificate
        self.certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// What a certificate may be used for (its extended key usage).
    public struct Usage: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// TLS server authentication.
        public static let server = Usage(rawValue: 1)
        /// TLS client authentication (a client certificate, e.g. for etcd's `--client-cert-auth`).
        public static let client = Usage(rawValue: 2)
    }

    /// Issues a certificate for `names` (DNS names, or IP addresses such as `127.0.0.1`).
    /// - Parameters:
    ///   - validFrom: seconds from now the certificate becomes valid (negative: in the past).
    ///   - days: how long it stays valid from then; 0 or less makes an expired certificate.
    ///   - usage: server authentication (the default), client authentication, or both.
    public func issue(names: [String], validFrom: Double = -3600, days: Int = 30, usage: Usage = .server) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let certificateKey = Certificate.PrivateKey(key)
        let now = Date()
        let start = now + validFrom
        let end = days > 0 ? start + Double(days) * 86_400 : now - 60
        let alternatives: [GeneralName] = names.map { name in
            if let address = IPv4.parse(name) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(IPv4.bytes(address)))) }
            return .dnsName(name)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: certificateKey.publicKey,
            notValidBefore: start,
            notValidAfter: end,
            issuer: self.certificate.subject,
            subject: try DistinguishedName { CommonName(names.first ?? "localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage((usage.contains(.server) ? [.serverAuth] : []) + (usage.contains(.client) ? [.clientAuth] : []))
                SubjectAlternativeNames(alternatives)
            },
            issuerPrivateKey: self.key
        )
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    /// A self-signed server certificate for `names`, trusted by nobody.
    public static func selfSigned(names: [String]) throws -> Issued {
        try LocalCertificateAuthority(name: names.first ?? "localhost").issue(names: names)
    }

    /// Writes the CA certificate to `directory/ca.pem` and one certificate for `names` to
    /// `directory/NAME.pem` / `directory/NAME-key.pem` (NAME: the first name); returns the paths.
    public func write(to directory: String, names: [String]) throws -> (ca: String, certificate: String, key: String) {
        mkdir(directory, 0o755)
        let issued = try self.issue(names: names)
        let stem = names.first ?? "server"
        let paths = (ca: "\(directory)/ca.pem", certificate: "\(directory)/\(stem).pem", key: "\(directory)/\(stem)-key.pem")
        try Self.writeFile(paths.ca, self.certificatePEM, mode: 0o644)
        try Self.writeFile(paths.certificate, issued.certificatePEM, mode: 0o644)
        try Self.writeFile(paths.key, issued.privateKeyPEM, mode: 0o600)
        return paths
    }

    /// Writes `text` to `path` atomically (a temporary file renamed over it).
    public static func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LocalCAError(path: path, errno: errno) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else { throw LocalCAError(path: path, errno: errno) }
    }
}

/// A file of the local CA could not be written.
public struct LocalCAError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32

    public var description: String {
        "cannot write \(self.path): \(String(cString: strerror(self.errno))); choose a writable directory"
    }
}
