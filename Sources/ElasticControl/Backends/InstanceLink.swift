#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// The network of an isolated instance the oci and microvm backends start (a container's
/// namespace, a VM's tap), wired like a sandbox's veth (CSandbox's `links.c`): the instance has
/// its site address (`127.0.N.10+k`, /32) on its own link and a default route through a
/// gateway, `169.254.0.1`, that exists only as a permanent neighbour entry pointing at the host
/// end; the host end lets `127.0.0.0/8` cross it, never forwards, pins the instance's MAC and
/// routes the address to it from the local routing table. So the router, the controller and
/// viewers reach the instance exactly as they reach a process, the instance reaches the origin
/// on the host, and instances cannot reach each other (the host does not forward).
package struct InstanceLink: Sendable, Equatable {
    /// The instance's address.
    package var address: String
    /// The host end: a veth's (oci) or the tap (microvm).
    package var hostInterface: String
    package var hostMAC: [UInt8]
    package var instanceMAC: [UInt8]
    /// The local address the host uses towards the instance.
    package var hostSource: String

    /// A link numbered `number` for `address`; `kind` keeps the MACs of different backends apart.
    package init(address: String, prefix: String, kind: UInt8, number: UInt32, hostSource: String) {
        self.address = address
        hostInterface = Self.interfaceName(prefix: prefix, number: number)
        let low = [UInt8(truncatingIfNeeded: number >> 16), UInt8(truncatingIfNeeded: number >> 8), UInt8(truncatingIfNeeded: number)]
        hostMAC = [0x02, 0xEC, kind] + low
        instanceMAC = [0x02, 0xEC, kind &+ 1] + low
        self.hostSource = hostSource
    }

    /// The link of an instance started by an earlier owner, known by its host end's name (enough
    /// to remove it).
    package init(adoptedHostInterface hostInterface: String, address: String, hostSource: String) {
        self.address = address
        self.hostInterface = hostInterface
        hostMAC = []
        instanceMAC = []
        self.hostSource = hostSource
    }

    /// `aa:bb:...`.
    package static func text(ofMAC mac: [UInt8]) -> String {
        mac.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: ":")
    }

    /// An interface name unique on this host for this process: `PREFIX` + 6 hex digits of the
    /// process id + 6 of `number` (15 bytes at most, the kernel's limit).
    static func interfaceName(prefix: String, number: UInt32) -> String {
        prefix + String(UInt32(getpid()) & 0xFF_FFFF, radix: 16).leftPadded(to: 6) + String(number & 0xFF_FFFF, radix: 16).leftPadded(to: 6)
    }

    /// A network namespace bound at `path` (a new file) whose `eth0` has the address, its veth's
    /// other end on the host. Blocks; call it from a thread of its own (it briefly moves the
    /// calling thread into the new namespace).
    /// - Throws: ``ControlError`` `spawnFailed` naming the step that failed; nothing is left behind.
    package func makeNamespace(at path: String) throws(ControlError) {
        let (address, source) = try addresses()
        var step: UnsafePointer<CChar>?
        let r = csandbox_netns_create(path, hostInterface, hostMAC, instanceMAC, address, source, &step)
        guard r == 0 else {
            let what = step.map { String(cString: $0) } ?? "make a network namespace"
            throw ControlError(.spawnFailed, "instance network for \(self.address): \(what): \(HostFile.describe(-r))")
        }
    }

    /// A persistent tap with the host end's MAC, wired for the instance (whose end is the VM's
    /// network card, with ``instanceMAC``).
    /// - Throws: ``ControlError`` `spawnFailed` naming the step that failed; nothing is left behind.
    package func makeTap() throws(ControlError) {
        let (address, source) = try addresses()
        var step: UnsafePointer<CChar>?
        var failure = -csandbox_tap_create(hostInterface, hostMAC, &step)
        if failure == 0 { failure = -csandbox_link_host_end(hostInterface, address, instanceMAC, source, &step) }
        guard failure == 0 else {
            removeHostInterface()
            let what = step.map { String(cString: $0) } ?? "make a tap"
            throw ControlError(.spawnFailed, "instance network for \(self.address): \(what): \(HostFile.describe(failure))")
        }
    }

    /// Deletes the host end (both ends of a veth; a tap); its routes and neighbours go with it.
    package func removeHostInterface() {
        _ = csandbox_delete_link(hostInterface)
    }

    /// Unbinds a namespace made by ``makeNamespace(at:)`` (the kernel frees it with its last user).
    package static func removeNamespace(at path: String) {
        csandbox_netns_remove(path)
    }

    /// Whether a link called `name` exists on the host.
    package static func interfaceExists(_ name: String) -> Bool {
        if_nametoindex(name) != 0
    }

    private func addresses() throws(ControlError) -> (UInt32, UInt32) {
        guard let address = PrefixTable.parseIPv4(address[...]), let source = PrefixTable.parseIPv4(hostSource[...]) else {
            throw ControlError(.spawnFailed, "instance address '\(address)' or host source '\(hostSource)' is not IPv4")
        }
        return (address.bigEndian, source.bigEndian)
    }
}
