#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Network namespaces made ahead of need, each with its veth pair wired except for the address
/// (``csandbox_network_prepare``): a sandbox's start then joins one (`setns`) and gives it its
/// address in two netlink datagrams, instead of creating a namespace (whose loopback device
/// and per-namespace state the kernel sets up under its global RTNL lock) and sending ten
/// requests one after another. One thread of its own refills the pool once starts pause (no
/// start in flight for ``quiet`` seconds), so it never competes with a burst of starts for the
/// cores and the RTNL lock; when the pool is empty (during a burst) the caller makes the
/// namespace in the clone as before.
final class NetworkPool: Sendable {
    /// One prepared namespace.
    struct Entry: Sendable {
        var network: csandbox_network
        /// The veth's host end.
        var interface: String
        /// What its MAC addresses are made of.
        var number: UInt32
    }

    private struct State {
        var idle: [Entry] = []
        /// Refills stop (after ``drain()``) until the next take.
        var paused = false
        var refilling = false
    }

    /// Namespaces kept ready.
    let size: Int
    private let state = Mutex(State())
    private let filler: MultiThreadedEventLoopGroup?
    private let activity: StartActivity
    private let name: @Sendable () -> (number: UInt32, interface: String)
    private let logger: Logger

    /// How long no start must have run before the filler makes a namespace: longer than the gap
    /// between one start of a burst and the next, shorter than a single instance's start-up.
    static let quiet = 0.02

    /// - Parameters:
    ///   - size: namespaces to keep ready; 0 turns the pool off.
    ///   - activity: the starts the filler makes way for.
    ///   - name: the next unused interface name and its number.
    init(size: Int, activity: StartActivity, logger: Logger, name: @escaping @Sendable () -> (number: UInt32, interface: String)) {
        self.size = max(0, size)
        self.activity = activity
        self.name = name
        self.logger = logger
        filler = size > 0 ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        refill()
    }

    deinit {
        drain()
        filler?.shutdownGracefully { _ in }
    }

    /// MAC addresses of the host end and the instance's end of link `number`.
    static func macs(_ number: UInt32) -> (host: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8), instance: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        let a = UInt8(truncatingIfNeeded: number >> 16)
        let b = UInt8(truncatingIfNeeded: number >> 8)
        let c = UInt8(truncatingIfNeeded: number)
        return ((0x02, 0xEC, a, b, c, 0x01), (0x02, 0xEC, a, b, c, 0x02))
    }

    /// A prepared namespace, or nil when none is ready; starts a refill either way.
    func take() -> Entry? {
        let entry = state.withLock { state -> Entry? in
            state.paused = false
            return state.idle.popLast()
        }
        refill()
        return entry
    }

    /// The host ends of the namespaces that wait for a sandbox.
    var idleInterfaces: [String] { state.withLock { $0.idle.map(\.interface) } }

    /// Deletes every idle namespace's link and closes it; refills wait for the next ``take()``.
    func drain() {
        let idle = state.withLock { state -> [Entry] in
            state.paused = true
            defer { state.idle.removeAll() }
            return state.idle
        }
        for entry in idle { Self.discard(entry) }
    }

    /// Frees an entry: its veth at once (both ends), then the namespace with its descriptors.
    static func discard(_ entry: Entry) {
        var network = entry.network
        _ = csandbox_delete_link(entry.interface)
        csandbox_network_close(&network)
    }

    private func refill() {
        guard let filler else { return }
        let start = state.withLock { state -> Bool in
            guard !state.refilling, !state.paused, state.idle.count < size else { return false }
            state.refilling = true
            return true
        }
        guard start else { return }
        filler.next().execute { self.fill() }
    }

    /// On the filler thread: prepares namespaces until the pool is full or paused; while starts
    /// run it looks again ``quiet`` seconds later.
    private func fill() {
        while true {
            let more = state.withLock { state -> Bool in
                guard !state.paused, state.idle.count < size else {
                    state.refilling = false
                    return false
                }
                return true
            }
            guard more else { return }
            if activity.isBusy(quiet: Self.quiet), let filler {
                filler.next().scheduleTask(in: .milliseconds(Int64(Self.quiet * 1000))) { self.fill() }
                return
            }
            let (number, interface) = name()
            var (hostMAC, instanceMAC) = Self.macs(number)
            var network = csandbox_network()
            var step: UnsafePointer<CChar>?
            let r = interface.withCString { name in
                withUnsafePointer(to: &hostMAC) { host in
                    withUnsafePointer(to: &instanceMAC) { instance in
                        host.withMemoryRebound(to: UInt8.self, capacity: 6) { host in
                            instance.withMemoryRebound(to: UInt8.self, capacity: 6) { instance in
                                csandbox_network_prepare(name, host, instance, &network, &step)
                            }
                        }
                    }
                }
            }
            guard r == 0 else {
                logger.warning("cannot prepare a network namespace ahead; sandboxes make their own", metadata: [
                    "step": "\(step.map { String(cString: $0) } ?? "prepare")", "errno": "\(-r)",
                ])
                // The next take tries again.
                state.withLock { $0.refilling = false }
                return
            }
            let entry = Entry(network: network, interface: interface, number: number)
            let kept = state.withLock { state -> Bool in
                guard !state.paused else { return false }
                state.idle.append(entry)
                return true
            }
            if !kept { Self.discard(entry) }
        }
    }
}
