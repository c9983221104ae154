import ArgumentParser
import EtcdClient

/// TLS to etcd, for every command that takes `--store`: an `https://` store is verified against
/// `--etcd-ca` (or the system's trust roots) and, for members that run with
/// `--client-cert-auth`, authenticated with `--etcd-cert` and `--etcd-key`.
struct EtcdTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "PEM file of the CA that signed the etcd members' certificates (https:// stores; default: the system's trust roots).", valueName: "FILE"
    ))
    var etcdCa: String?

    @Option(help: ArgumentHelp("PEM file of the client certificate for etcd members that run with --client-cert-auth.", valueName: "FILE"))
    var etcdCert: String?

    @Option(help: ArgumentHelp("PEM file of the private key of --etcd-cert.", valueName: "FILE"))
    var etcdKey: String?

    @Option(help: ArgumentHelp(
        "The name the etcd members' certificates carry, when they do not carry the members' addresses.", valueName: "NAME"
    ))
    var etcdServerName: String?

    /// The configuration for `store` with these options; the files are checked when the client is made.
    /// - Throws: ``EtcdError`` `badEndpoint` for a malformed store, or TLS options with a plain-text one.
    func configuration(store: String) throws(EtcdError) -> EtcdConfiguration {
        var configuration = try EtcdConfiguration(url: store)
        let given = [("--etcd-ca", etcdCa), ("--etcd-cert", etcdCert), ("--etcd-key", etcdKey), ("--etcd-server-name", etcdServerName)]
            .filter { $0.1 != nil }.map(\.0)
        guard configuration.tls != nil else {
            guard given.isEmpty else {
                throw EtcdError(
                    .badEndpoint, "\(given.joined(separator: ", ")) \(given.count == 1 ? "needs" : "need") TLS: write the store as https://HOST:PORT[,...] (etcd's TLS client URLs), not \(store)"
                )
            }
            return configuration
        }
        guard (etcdCert == nil) == (etcdKey == nil) else {
            throw EtcdError(.badTLS, etcdCert == nil ? "--etcd-key needs --etcd-cert (the certificate of that key)" : "--etcd-cert needs --etcd-key (its private key)")
        }
        configuration.tls = EtcdConfiguration.TLS(caFile: etcdCa, certificateFile: etcdCert, keyFile: etcdKey, serverName: etcdServerName)
        return configuration
    }
}
