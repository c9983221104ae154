import EtcdClient

/// Writes the sites and tenants a cluster serves (`ecdn up --store`, `ecdn state init`, the test bed).
public enum ClusterSeed {
    /// Puts every site and tenant; without `overwrite`, keys that exist are left as they are (an
    /// operator's edits survive a restart).
    /// - Throws: ``ControlError`` `storeFailed`.
    public static func write(
        client: EtcdClient, keys: ClusterKeys = ClusterKeys(), sites: [SiteConfiguration], tenants: [TenantConfiguration], overwrite: Bool = false
    ) async throws(ControlError) {
        let entries = sites.map { (keys.site($0.name), ClusterRecords.encode(SiteRecord($0))) }
            + tenants.map { (keys.tenant($0.name), ClusterRecords.encode(TenantRecord($0))) }
        for (key, value) in entries {
            do {
                if overwrite {
                    try await client.put(key, value: value)
                } else {
                    _ = try await client.transaction(if: [.absent(key)], then: [.put(key: key, value: value)])
                }
            } catch {
                throw ControlError(.storeFailed, "cannot write \(key) to etcd: \(error.message)", underlying: error)
            }
        }
    }
}
