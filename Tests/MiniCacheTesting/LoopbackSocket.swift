#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client socket connected to a port on 127.0.0.1, for tests that need what an
/// event-loop client hides: a receive buffer set before connecting, bytes left unread in the
/// kernel, a peek at what is queued, or a reset instead of a close.
public final class LoopbackSocket: Sendable {
    private let fd: Int32

    /// Connects to `127.0.0.1:port`.
    /// - Parameters:
    ///   - receiveBuffer: `SO_RCVBUF` in bytes, set before connecting so that the kernel keeps it
    ///     (nil: the kernel's default, which grows).
    ///   - receiveTimeout: seconds a blocking read waits for bytes before it gives up (nil: forever).
    /// - Throws: ``TestClientError`` when the connection is refused.
    public init(port: Int, receiveBuffer: Int32? = nil, receiveTimeout: Int? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "cannot make a socket: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let receiveTimeout {
            var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw TestClientError(description: "cannot connect to 127.0.0.1:\(port): errno \(code)")
        }
        self.fd = fd
    }

    deinit { close(self.fd) }

    /// Sends all of `bytes`; false when the connection is closed or reset.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    /// Sends `text` as UTF-8; false when the connection is closed or reset.
    @discardableResult
    public func send(_ text: String) -> Bool { self.send(Array(text.utf8)) }

    /// Bytes received and not read yet, up to `limit` (peeked, not consumed).
    public func queued(limit: Int = 1 << 20) -> Int {
        var peek = [UInt8](repeating: 0, count: limit)
        let count = peek.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        return max(0, count)
    }

    /// Reads what one `recv` returns, at most `limit` bytes; empty at the end of the stream, on a
    /// reset or after the receive timeout.
    public func receive(limit: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: limit)
        let count = bytes.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
        return Array(bytes.prefix(max(0, count)))
    }

    /// Reads until `count` bytes arrived, the stream ended or the receive timeout passed.
    public func read(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let part = self.receive(limit: count - bytes.count)
            guard !part.isEmpty else { break }
            bytes += part
        }
        return bytes
    }

    /// Makes the socket's close a reset (`SO_LINGER` 0): the peer gets `RST` and whatever it
    /// still had to send is lost. The reset goes out when the socket is released.
    public func resetOnClose() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }
}
