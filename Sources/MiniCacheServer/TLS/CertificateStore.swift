#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOSSL
import Synchronization

/// The TLS listener's certificates: one ready `NIOSSLContext` per certificate, picked by the
/// client's server name (SNI).
///
/// Loaded at start-up (a bad file is then an error) and again when a file changes (the volume's
/// file watch) or on `POST /admin/remount`: a reload that fails is logged in one line naming the
/// file and what is wrong, and the certificates loaded before keep serving. Each context keeps its
/// own session cache and ticket keys (BoringSSL's, rotated every 48 hours), so resumption works
/// per certificate and a reload starts new ones; with
/// ``TLSListenerConfiguration/ticketKeyRotation`` the file watch reloads that often for new keys.
package final class CertificateStore: Sendable {
    /// The contexts of one load.
    package struct Snapshot: Sendable {
        /// One per certificate, in the configured order; the first answers clients without SNI.
        package let contexts: [NIOSSLContext]
        /// Exact names (lowercased) to the index of their context.
        let names: [String: Int]
        /// `*.example.com` certificates, by the suffix after the star (`.example.com`).
        let wildcards: [String: Int]
        package let generation: Int
    }

    private struct State {
        var snapshot: Snapshot
        var fingerprints: [FileFingerprint]
        /// When the ticket keys were last replaced (or a replacement failed).
        var keysSince: ContinuousClock.Instant
    }

    private let configuration: TLSListenerConfiguration
    private let logger: Logger
    private let state: Mutex<State>

    /// Loads every certificate of `configuration`.
    /// - Throws: ``MiniCacheError`` with code `certificate` naming the file that cannot be loaded.
    package init(configuration: TLSListenerConfiguration, logger: Logger) throws(MiniCacheError) {
        guard !configuration.certificates.isEmpty else {
            throw MiniCacheError(.configuration, "a TLS listener needs at least one --tls-cert FILE --tls-key FILE pair")
        }
        self.configuration = configuration
        self.logger = logger
        let fingerprints = Self.fingerprints(configuration)
        let snapshot = try Self.load(configuration, generation: 1)
        self.state = Mutex(State(snapshot: snapshot, fingerprints: fingerprints, keysSince: .now))
    }

    package var current: Snapshot { self.state.withLock { $0.snapshot } }

    /// Whether connections must be looked at for their server name before the handshake (several
    /// certificates, or unknown names are refused).
    package var selectsByName: Bool {
        self.configuration.certificates.count > 1 || self.configuration.unknownServerName == .reject
    }

    /// The context for a client that asked for `serverName`; nil when the name is unknown and
    /// unknown names are refused.
    package func context(for serverName: String?) -> NIOSSLContext? {
        let snapshot = self.current
        guard let serverName else { return snapshot.contexts[0] }
        let name = serverName.lowercased()
        if let index = snapshot.names[name] { return snapshot.contexts[index] }
        if let dot = name.firstIndex(of: "."), let index = snapshot.wildcards[String(name[dot...])] {
            return snapshot.contexts[index]
        }
        return self.configuration.unknownServerName == .defaultCertificate ? snapshot.contexts[0] : nil
    }

    /// Reloads when a certificate or key file changed since the last load, or when the ticket
    /// keys are due for rotation at `now` (the file watch calls it every second).
    package func checkForChanges(now: ContinuousClock.Instant = .now) {
        let files = Self.fingerprints(self.configuration)
        let (changed, keysSince) = self.state.withLock { ($0.fingerprints != files, $0.keysSince) }
        if changed {
            _ = try? self.reload(reason: "certificate file changed")
        } else if let rotation = self.configuration.ticketKeyRotation, now - keysSince >= .seconds(rotation) {
            _ = try? self.reload(reason: "session-ticket key rotation")
        }
    }

    /// Loads every certificate again and serves the new ones; on failure the old ones stay.
    /// - Returns: the generation now served.
    /// - Throws: ``MiniCacheError`` naming the file that cannot be loaded (also logged).
    @discardableResult
    package func reload(reason: String) throws(MiniCacheError) -> Int {
        let fingerprints = Self.fingerprints(self.configuration)
        let generation = self.state.withLock { $0.snapshot.generation + 1 }
        do {
            let snapshot = try Self.load(self.configuration, generation: generation)
            self.state.withLock { $0 = State(snapshot: snapshot, fingerprints: fingerprints, keysSince: .now) }
            self.logger.info("certificates reloaded", metadata: ["reason": "\(reason)", "tls.generation": "\(generation)"])
            return generation
        } catch {
            // Remembered, so an unchanged bad file is reported once, not every second (and a
            // failed rotation is tried again one period later).
            self.state.withLock {
                $0.fingerprints = fingerprints
                $0.keysSince = .now
            }
            self.logger.error("\(error.message); still serving the previous certificates")
            throw error
        }
    }

    // MARK: - Loading

    private static func load(_ configuration: TLSListenerConfiguration, generation: Int) throws(MiniCacheError) -> Snapshot {
        var contexts: [NIOSSLContext] = []
        var names: [String: Int] = [:]
        var wildcards: [String: Int] = [:]
        for (index, files) in configuration.certificates.enumerated() {
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
            } catch {
                throw Self.failure(files.certificate, "not a PEM certificate chain", error)
            }
            guard let leaf = chain.first else {
                throw MiniCacheError(.certificate, "cannot load TLS certificate \(files.certificate): no certificate in the file")
            }
            if leaf.notValidAfter < time(nil) {
                throw MiniCacheError(.certificate, "cannot load TLS certificate \(files.certificate): it expired; renew it")
            }
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: files.key, format: .pem)
            } catch {
                throw Self.failure(files.key, "not a PEM private key", error)
            }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            tls.minimumTLSVersion = configuration.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
            tls.cipherSuites = configuration.cipherSuites
            tls.applicationProtocols = configuration.http2 ? ["h2", "http/1.1"] : ["http/1.1"]
            do {
                contexts.append(try NIOSSLContext(configuration: tls))
            } catch {
                throw Self.failure(files.key, "does not match the certificate \(files.certificate)", error)
            }
            for name in leaf._subjectAlternativeNames() {
                guard name.nameType == .dnsName else { continue }
                let text = String(decoding: name.contents, as: UTF8.self).lowercased()
                if text.hasPrefix("*.") {
                    if wildcards[String(text.dropFirst())] == nil { wildcards[String(text.dropFirst())] = index }
                } else if names[text] == nil {
                    names[text] = index
                }
            }
        }
        return Snapshot(contexts: contexts, names: names, wildcards: wildcards, generation: generation)
    }

    private static func failure(_ path: String, _ what: String, _ error: any Error) -> MiniCacheError {
        guard access(path, R_OK) == 0 else {
            return MiniCacheError(.certificate, "cannot load TLS file \(path): \(String(cString: strerror(errno)))", underlying: error)
        }
        let detail = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
        return MiniCacheError(.certificate, "cannot load TLS file \(path): \(what) (\(detail))", underlying: error)
    }

    /// What tells a changed file: inode, size and modification time of each file.
    private static func fingerprints(_ configuration: TLSListenerConfiguration) -> [FileFingerprint] {
        configuration.certificates.flatMap { [FileFingerprint($0.certificate), FileFingerprint($0.key)] }
    }
}

/// Inode, size and modification time of a file (all zero when it cannot be read).
struct FileFingerprint: Equatable {
    var inode: UInt64 = 0
    var size: Int64 = 0
    var seconds: Int = 0
    var nanoseconds: Int = 0

    init(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        self.inode = UInt64(info.st_ino)
        self.size = Int64(info.st_size)
        self.seconds = info.st_mtim.tv_sec
        self.nanoseconds = info.st_mtim.tv_nsec
    }
}
