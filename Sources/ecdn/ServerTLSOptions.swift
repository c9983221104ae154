import ArgumentParser
import HTTPToolkit

/// HTTPS on a listener of the distributed control plane (`ecdn router`, `ecdn controller`'s API,
/// `ecdn agent`'s caches), with the flag names of `minicache serve`: `--tls-cert` and `--tls-key`
/// (PEM). The files are loaded when the listener binds; one that cannot be used ends the command
/// with one line naming it.
struct ServerTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("PEM certificate chain to serve HTTPS with (needs --tls-key).", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "FILE"))
    var tlsKey: String?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError(tlsCert == nil ? "--tls-key needs --tls-cert (the certificate of that key)" : "--tls-cert needs --tls-key (its private key)")
        }
    }

    /// The certificate and key, or nil for plain HTTP. The listeners of the control plane do not
    /// check client certificates, so the CA is the certificate itself (it is only handed on).
    var files: TLSFiles? {
        guard let tlsCert, let tlsKey else { return nil }
        return TLSFiles(certificate: tlsCert, key: tlsKey, ca: tlsCert)
    }
}
