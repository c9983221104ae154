/// The multi-host test bed on one machine (`ecdn testbed up`): every host a Linux network
/// namespace, all joined by one bridge, addresses in 10.77.0.0/16 that exist only inside these
/// namespaces and on the bridge.
public struct TestbedConfiguration: Sendable {
    /// Prefix of every namespace, link and folder (at most 6 characters; links have 15). Default `ecdntb`.
    public var name: String
    /// Site hosts (each with its agent) and client namespaces, one per site. Default 3.
    public var sites: Int
    /// Controllers and routers. Defaults 2 and 2.
    public var controllers: Int
    public var routers: Int
    /// The `ecdn` and `minicache` executables and `etcd`.
    public var ecdn: String
    public var minicache: String
    public var etcd: String
    /// Where logs, pid files, etcd data and instance volumes go. Default `/tmp/<name>`.
    public var directory: String
    /// Seconds of the agents' leases (how long a cut-off site keeps its status). Default 3.
    public var agentLeaseTTL: Int
    /// Extra arguments for every controller (e.g. `--idle-timeout 60`).
    public var controllerArguments: [String]

    public init(
        name: String = "ecdntb", sites: Int = 3, controllers: Int = 2, routers: Int = 2, ecdn: String, minicache: String,
        etcd: String = "/usr/bin/etcd", directory: String? = nil, agentLeaseTTL: Int = 3, controllerArguments: [String] = []
    ) {
        self.name = name
        self.sites = sites
        self.controllers = controllers
        self.routers = routers
        self.ecdn = ecdn
        self.minicache = minicache
        self.etcd = etcd
        self.directory = directory ?? "/tmp/\(name)"
        self.agentLeaseTTL = agentLeaseTTL
        self.controllerArguments = controllerArguments
    }

    /// The bridge's address in the root namespace (the machine itself reaches every host through it).
    public var bridgeAddress: String { "10.77.0.1" }
    public func etcdAddress(_ n: Int) -> String { "10.77.0.\(10 + n)" }
    public func controllerAddress(_ n: Int) -> String { "10.77.0.\(20 + n)" }
    public func routerAddress(_ n: Int) -> String { "10.77.0.\(30 + n)" }
    public var originAddress: String { "10.77.0.40" }
    public func siteHostAddress(_ n: Int) -> String { "10.77.0.\(50 + n)" }
    /// Site n's instances get 10.77.n.10 and up (the whole /24 is local to its host).
    public func instanceBase(site n: Int) -> String { "10.77.\(n).10" }
    /// Site n's viewers come from 10.77.(100+n).0/24 (local to their client namespace).
    public func clientPrefix(site n: Int) -> String { "10.77.\(100 + n).0/24" }
    public func clientAddress(site n: Int, _ k: Int = 1) -> String { "10.77.\(100 + n).\(k)" }

    /// `etcd://` URL of the three members.
    public var storeURL: String { "etcd://" + (1...3).map { "\(etcdAddress($0)):2379" }.joined(separator: ",") }
    public var originURL: String { "http://\(originAddress):8002" }
    public func routerURL(_ n: Int) -> String { "http://\(routerAddress(n)):8000" }
    public func apiURL(_ n: Int) -> String { "http://\(controllerAddress(n)):8001" }

    /// Every host: its namespace suffix and address.
    public var hosts: [(role: String, address: String)] {
        (1...3).map { ("etcd\($0)", etcdAddress($0)) }
            + (1...controllers).map { ("ctl\($0)", controllerAddress($0)) }
            + (1...routers).map { ("rtr\($0)", routerAddress($0)) }
            + [("origin", originAddress)]
            + (1...sites).map { ("site\($0)", siteHostAddress($0)) }
            + (1...sites).map { ("view\($0)", clientAddress(site: $0)) }
    }

    public func namespace(_ role: String) -> String { "\(name)-\(role)" }
    /// The root end of a host's veth pair (`<name>-<role>`, at most 15 characters).
    public func link(_ role: String) -> String { "\(name)\(role)" }
    public var bridge: String { "\(name)br" }
}
