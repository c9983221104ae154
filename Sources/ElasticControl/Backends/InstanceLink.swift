#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The network of an isolated instance (a container's namespace, a VM's tap), the way the
/// sandbox backend wires its instances: the instance has its site address (`127.0.N.10+k`, /32)
/// on its own link and a default route through a gateway, `169.254.0.1`, that exists only as a
/// permanent neighbour entry pointing at the host end; the host end lets `127.0.0.0/8` cross it,
/// never forwards, pins the instance's MAC and routes the address to it from the local routing
/// table, where a `/32` wins over `local 127.0.0.0/8 dev lo`. So the router, the controller and
/// viewers reach the instance exactly as they reach a process, the instance reaches the origin
/// on the host, and instances cannot reach each other (the host does not forward).
package enum InstanceLink {
    /// The next hop instances route through.
    package static let gateway = "169.254.0.1"

    /// `02:ec:KIND:xx:yy:zz`: a locally administered MAC from a link's number; `end` tells the
    /// host end (1) from the instance end (2) apart.
    package static func mac(kind: UInt8, number: UInt32, end: UInt8) -> String {
        [0x02, 0xEC, kind &+ end, UInt8(truncatingIfNeeded: number >> 16), UInt8(truncatingIfNeeded: number >> 8), UInt8(truncatingIfNeeded: number)]
            .map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: ":")
    }

    /// An interface name unique on this host for this process: `PREFIX` + 6 hex digits of the
    /// process id + 6 of `number` (15 bytes at most, the kernel's limit).
    package static func interfaceName(prefix: String, number: UInt32) -> String {
        prefix + String(UInt32(getpid()) & 0xFF_FFFF, radix: 16).leftPadded(to: 6) + String(number & 0xFF_FFFF, radix: 16).leftPadded(to: 6)
    }

    /// Sets up the host end `interface` (which exists) for an instance at `address` whose end
    /// has `instanceMAC`.
    /// - Throws: ``ControlError`` `spawnFailed` with `ip`'s own message.
    package static func attachHostEnd(_ interface: String, address: String, instanceMAC: String, hostSource: String) throws(ControlError) {
        for (knob, value) in [("route_localnet", "1"), ("forwarding", "0")] {
            try writeSysctl("/proc/sys/net/ipv4/conf/\(interface)/\(knob)", value)
        }
        try ip(
            [], batch: [
                "link set \(interface) up",
                "neigh replace \(address) lladdr \(instanceMAC) dev \(interface) nud permanent",
                "route replace table local \(address)/32 dev \(interface) src \(hostSource)",
            ]
        )
    }

    /// A persistent tap device `name` owned by root, for QEMU to open by name.
    /// - Throws: ``ControlError`` `spawnFailed`.
    package static func makeTap(_ name: String, address: String, instanceMAC: String, hostMAC: String, hostSource: String) throws(ControlError) {
        try ip(["tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr"])
        do {
            try ip(["link", "set", "dev", name, "address", hostMAC])
            try attachHostEnd(name, address: address, instanceMAC: instanceMAC, hostSource: hostSource)
        } catch {
            removeInterface(name)
            throw error
        }
    }

    /// A named network namespace (`/run/netns/NAME`) whose `eth0` has `address`, wired to the
    /// host by a veth whose host end is `hostInterface`. Returns the namespace's path.
    /// - Throws: ``ControlError`` `spawnFailed`; nothing is left behind.
    package static func makeNamespace(
        _ name: String, address: String, hostInterface: String, hostMAC: String, instanceMAC: String, hostSource: String
    ) throws(ControlError) -> String {
        try ip(["netns", "add", name])
        do {
            try ip([], batch: ["link add \(hostInterface) address \(hostMAC) type veth peer name eth0 address \(instanceMAC) netns \(name)"])
            try inNamespace("/run/netns/\(name)") { () throws(ControlError) in
                try writeSysctl("/proc/sys/net/ipv4/conf/eth0/route_localnet", "1")
            }
            try ip(
                ["-n", name], batch: [
                    "link set eth0 up",
                    "address add \(address)/32 dev eth0",
                    "neigh replace \(gateway) lladdr \(hostMAC) dev eth0 nud permanent",
                    "route add default via \(gateway) dev eth0 onlink src \(address)",
                ]
            )
            try attachHostEnd(hostInterface, address: address, instanceMAC: instanceMAC, hostSource: hostSource)
        } catch {
            removeInterface(hostInterface)
            removeNamespace(name)
            throw error
        }
        return "/run/netns/\(name)"
    }

    /// Deletes a link (both ends of a veth; a tap); routes and neighbours go with it.
    package static func removeInterface(_ name: String) {
        _ = try? ip(["link", "delete", "dev", name])
    }

    /// Deletes a named network namespace (its interfaces go with it).
    package static func removeNamespace(_ name: String) {
        _ = try? ip(["netns", "delete", name])
    }

    /// Whether a link called `name` exists.
    package static func interfaceExists(_ name: String) -> Bool {
        if_nametoindex(name) != 0
    }

    /// Runs `body` on this thread inside the network namespace at `path`, then returns the
    /// thread to the namespace it was in.
    private static func inNamespace(_ path: String, _ body: () throws(ControlError) -> Void) throws(ControlError) {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open(path, O_RDONLY | O_CLOEXEC)
        defer {
            if original >= 0 { close(original) }
            if target >= 0 { close(target) }
        }
        guard original >= 0, target >= 0, setns(target, CLONE_NEWNET) == 0 else {
            throw ControlError(.spawnFailed, "cannot enter the network namespace \(path): \(String(cString: strerror(errno)))")
        }
        defer {
            if setns(original, CLONE_NEWNET) != 0 { fatalError("cannot return a thread to its network namespace: \(String(cString: strerror(errno)))") }
        }
        try body()
    }

    private static func writeSysctl(_ path: String, _ value: String) throws(ControlError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0, write(fd, value, value.utf8.count) == value.utf8.count else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw ControlError(.spawnFailed, "cannot write \(path): \(reason)")
        }
        close(fd)
    }

    private static func ip(_ arguments: [String], batch: [String]? = nil) throws(ControlError) {
        guard let program = ImageTools.find("ip") else {
            throw ControlError(.spawnFailed, "no `ip` command: install iproute2 (apt-get install iproute2)")
        }
        if let batch {
            try ImageTools.run(program, arguments + ["-batch", "-"], standardInput: batch.joined(separator: "\n") + "\n", code: .spawnFailed)
        } else {
            try ImageTools.run(program, arguments, code: .spawnFailed)
        }
    }
}
