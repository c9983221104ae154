import ArgumentParser
import EtcdClient
import Foundation

/// TLS and authentication to etcd, for every command that takes `--store`: an `https://` store
/// is verified against `--etcd-ca` (or the system's trust roots) and, for members that run with
/// `--client-cert-auth`, authenticated with `--etcd-cert` and `--etcd-key`; a cluster with
/// `auth enable` is given `--etcd-user` and the password in `--etcd-password-file`.
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

    @Option(help: ArgumentHelp("User of etcd's authentication (a cluster with `auth enable`); needs --etcd-password-file.", valueName: "NAME"))
    var etcdUser: String?

    @Option(help: ArgumentHelp(
        "File whose first line is the password of --etcd-user (a file, so the password is not on the command line).", valueName: "FILE"
    ))
    var etcdPasswordFile: String?

    /// The configuration for `store` with these options; the TLS files are checked when the
    /// client is made, the password file here.
    /// - Throws: ``EtcdError`` `badEndpoint` for a malformed store, or TLS options with a
    ///   plain-text one; `badCredentials` for a user without a readable password file.
    func configuration(store: String) throws(EtcdError) -> EtcdConfiguration {
        var configuration = try tlsConfiguration(store: store)
        configuration.credentials = try credentials()
        return configuration
    }

    /// The user and the password from its file, or nil without `--etcd-user`.
    private func credentials() throws(EtcdError) -> EtcdConfiguration.Credentials? {
        switch (etcdUser, etcdPasswordFile) {
        case (nil, nil):
            return nil
        case (nil, _?):
            throw EtcdError(.badCredentials, "--etcd-password-file needs --etcd-user (the user whose password it holds)")
        case (_?, nil):
            throw EtcdError(.badCredentials, "--etcd-user needs --etcd-password-file (a file whose first line is the password)")
        case (let user?, let file?):
            guard !user.isEmpty else { throw EtcdError(.badCredentials, "--etcd-user is empty: give etcd's user name") }
            guard access(file, R_OK) == 0 else {
                throw EtcdError(.badCredentials, "cannot read the etcd password file \(file): \(String(cString: strerror(errno)))")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw EtcdError(.badCredentials, "cannot read the etcd password file \(file) as text: its first line must be the password")
            }
            let password = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map { String($0.dropLast($0.hasSuffix("\r") ? 1 : 0)) } ?? ""
            guard !password.isEmpty else {
                throw EtcdError(.badCredentials, "the etcd password file \(file) is empty: its first line must be the password of \(user)")
            }
            return EtcdConfiguration.Credentials(user: user, password: password)
        }
    }

    private func tlsConfiguration(store: String) throws(EtcdError) -> EtcdConfiguration {
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
