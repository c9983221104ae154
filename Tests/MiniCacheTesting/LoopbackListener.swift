import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on 127.0.0.1 opened without an event loop: a host service that a
/// sandbox or a child process connects to (the kernel completes connections into its backlog
/// whether or not the test accepts them), or a check that a port is free for a program the test
/// starts next.
public final class LoopbackListener: Sendable {
    private let descriptor: Atomic<Int32>

    /// The port it listens on.
    public let port: Int

    /// Listens on `127.0.0.1:port`.
    /// - Parameters:
    ///   - port: the port to bind; 0 (the default) lets the kernel pick a free one.
    ///   - backlog: connections the kernel completes before the test accepts them.
    /// - Throws: ``TestClientError`` when the port is taken or the socket cannot be made.
    public init(port: Int = 0, backlog: Int32 = 16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "cannot make a socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, backlog) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard listening else {
            let code = errno
            Glibc.close(fd)
            throw TestClientError(description: "cannot listen on 127.0.0.1:\(port): errno \(code)")
        }
        self.descriptor = Atomic(fd)
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { self.close() }

    /// Waits for the next connection and returns its descriptor, which the caller closes; -1 once
    /// the listener is closed.
    public func accept() -> Int32 {
        let fd = self.descriptor.load(ordering: .acquiring)
        return fd < 0 ? -1 : Glibc.accept(fd, nil, nil)
    }

    /// Stops listening (connections still in the backlog are reset); later calls do nothing.
    public func close() {
        let fd = self.descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { Glibc.close(fd) }
    }
}
