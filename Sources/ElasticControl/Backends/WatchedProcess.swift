#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A process a backend watches without having forked it: a container's first process (started
/// by the OCI runtime, which exits; it is re-parented to this process when this process is a
/// child subreaper) or one adopted after a restart. Its end is seen through a pidfd; its exit
/// status when it is this process's child.
package final class WatchedProcess: Sendable {
    package let pid: Int32
    private let pidfd: Int32
    private let exitState = Mutex<ChildProcess.Exit?>(nil)

    private typealias PidfdOpen = @convention(c) (Int32, UInt32) -> Int32
    private typealias PidfdSendSignal = @convention(c) (Int32, Int32, UnsafeMutableRawPointer?, UInt32) -> Int32
    private typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    // glibc 2.36 wraps the pidfd calls; prctl is variadic in C, so all are reached through dlsym.
    private static let pidfdOpen: PidfdOpen? = symbol("pidfd_open")
    private static let pidfdSendSignal: PidfdSendSignal? = symbol("pidfd_send_signal")
    private static let prctl: Prctl? = symbol("prctl")

    private static func symbol<T>(_ name: String) -> T? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: T.self) }
    }

    /// Watches `pid`; nil when there is no such process (or the kernel has no pidfds).
    package init?(pid: Int32) {
        guard pid > 0, let open = Self.pidfdOpen else { return nil }
        let fd = open(pid, 0)
        guard fd >= 0 else { return nil }
        self.pid = pid
        self.pidfd = fd
    }

    deinit { close(pidfd) }

    /// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`), so
    /// a container's first process becomes its child when the runtime that started it exits,
    /// and its exit status can be read.
    package static func becomeSubreaper() {
        _ = prctl?(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0)
    }

    /// How the process ended, once it has (reaped when it is a child); nil while it runs.
    package func poll() -> ChildProcess.Exit? {
        exitState.withLock { state in
            if let state { return state }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                let signal = status & 0x7F
                state = signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
                return state
            }
            guard r < 0, errno == ECHILD else { return nil }
            // Not a child: the pidfd turns readable when the process ends; its status is not ours to read.
            var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            if Glibc.poll(&entry, 1, 0) == 1 { state = .exited(-1) }
            return state
        }
    }

    /// Sends `signal` unless the process has ended (the pidfd never reaches a reused pid).
    package func signal(_ signal: Int32) {
        guard poll() == nil else { return }
        _ = Self.pidfdSendSignal?(pidfd, signal, nil, 0)
    }

    /// Waits until the process has ended, at most `timeout` seconds; returns how it ended.
    package func wait(timeout: Double) async -> ChildProcess.Exit? {
        let deadline = HTTPDate.monotonic() + timeout
        while HTTPDate.monotonic() < deadline {
            if let exit = poll() { return exit }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return poll()
    }
}
