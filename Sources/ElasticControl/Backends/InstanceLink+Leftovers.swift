#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import Logging

extension InstanceLink {
    /// Deletes the host ends named `PREFIX` + 6 hex digits of a process id + 6 of a number
    /// (``interfaceName(prefix:number:)``) that an owner which has ended left behind and that no
    /// running instance uses, and returns their names. A backend calls it when it starts, so a
    /// crashed agent or test does not leave routes that make the next instance on the same address
    /// fail with "File exists".
    ///
    /// An interface is kept while the process that created it runs (it may be setting the
    /// instance up; a reused process id only keeps a leftover longer) and while an instance uses it:
    /// - a veth (sandbox, oci) while a process lives in the namespace of its other end, found by
    ///   the permanent neighbour entry every instance has for its gateway, which holds the host
    ///   end's MAC address (an oci namespace bound to a file outlives its container, so a veth can
    ///   outlive every process that used it);
    /// - a tap (microvm) while a process has it open (its carrier is on).
    ///
    /// Detached instances whose owner ended are still in use, so they keep their interfaces until
    /// the next owner on their work folder adopts or removes them.
    @discardableResult
    package static func removeLeftovers(prefix: String, logger: Logger) -> [String] {
        let candidates = HostFile.names(in: "/sys/class/net").filter { name in
            guard name.hasPrefix(prefix), name.utf8.count == prefix.utf8.count + 12,
                let owner = Int32(name.dropFirst(prefix.count).prefix(6), radix: 16)
            else { return false }
            return kill(owner, 0) != 0 && errno == ESRCH
        }
        guard !candidates.isEmpty else { return [] }
        let inUse = gatewayAddressesOfOtherNamespaces()
        var removed: [String] = []
        for name in candidates.sorted() {
            let directory = "/sys/class/net/" + name
            if access(directory + "/tun_flags", F_OK) == 0 {
                if HostFile.read(directory + "/carrier")?.hasPrefix("1") == true { continue }
            } else if let mac = HostFile.read(directory + "/address")?.split(separator: "\n").first, inUse.contains(String(mac)) {
                continue
            }
            let r = csandbox_delete_link(name)
            if r == 0 || r == -ENODEV {
                removed.append(name)
            } else {
                logger.warning("cannot delete a leftover interface", metadata: ["interface": "\(name)", "errno": "\(-r)"])
            }
        }
        if !removed.isEmpty {
            logger.notice("removed interfaces that ended owners left behind", metadata: ["interfaces": "\(removed)"])
        }
        return removed
    }

    /// The hardware addresses in the neighbour tables of every network namespace other than
    /// this process's that has a process in it (`/proc/PID/net/arp`).
    private static func gatewayAddressesOfOtherNamespaces() -> Set<String> {
        let own = namespace(of: "self")
        var seen: Set<String> = []
        var addresses: Set<String> = []
        for pid in HostFile.names(in: "/proc") where pid.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard let namespace = namespace(of: pid), namespace != own, seen.insert(namespace).inserted else { continue }
            // "IP address  HW type  Flags  HW address  Mask  Device", after a heading line.
            for line in (HostFile.read("/proc/\(pid)/net/arp") ?? "").split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count > 3 { addresses.insert(String(fields[3])) }
            }
        }
        return addresses
    }

    private static func namespace(of pid: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/\(pid)/ns/net", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
