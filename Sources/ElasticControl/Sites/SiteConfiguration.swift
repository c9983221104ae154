/// A site: a place (an ISP micro-datacenter; locally a loopback /24) that hosts cache instances.
public struct SiteConfiguration: Sendable, Equatable {
    /// Name, e.g. `site1`.
    public var name: String
    /// The client prefix the site serves, `A.B.C.D/LEN` (also its default prefix-table entry).
    public var clientPrefix: String
    /// Addresses handed to instances: `instanceBase`, `instanceBase+1`, ... (dotted IPv4).
    public var instanceBase: String
    /// Instances of all tenants the site can run at once. Default 4.
    public var maxInstances: Int
    /// What runs the site's instances. Default ``BackendKind/process``.
    public var backend: BackendKind

    public init(name: String, clientPrefix: String, instanceBase: String, maxInstances: Int = 4, backend: BackendKind = .process) {
        self.name = name
        self.clientPrefix = clientPrefix
        self.instanceBase = instanceBase
        self.maxInstances = maxInstances
        self.backend = backend
    }

    /// `site1`..`siteN` owning 127.0.N.0/24, instances at 127.0.N.10 and up.
    public static func loopbackSites(_ count: Int = 3, firstOctet: Int = 1) -> [SiteConfiguration] {
        (0..<count).map { i in
            let n = firstOctet + i
            return SiteConfiguration(name: "site\(i + 1)", clientPrefix: "127.0.\(n).0/24", instanceBase: "127.0.\(n).10")
        }
    }

    /// Addresses the controller places instances on: slots `0..<instanceSlots` (room for
    /// instances still draining while new ones start).
    public var instanceSlots: Int { max(maxInstances * 4, 16) }

    /// Every address an instance of this site can get (what a certificate for its caches names).
    public var instanceAddresses: [String] { (0..<instanceSlots).compactMap { instanceAddress(slot: $0) } }

    /// The instance address for slot `k`.
    public func instanceAddress(slot: Int) -> String? {
        guard let base = PrefixTable.parseIPv4(instanceBase[...]) else { return nil }
        return PrefixTable.format(base &+ UInt32(slot))
    }
}
