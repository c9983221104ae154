#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import CSandbox
import Synchronization

/// The first process of a sandbox or a container (PID 1 of its namespace), held by a pidfd:
/// signals and exit checks can never reach a recycled process id.
final class SandboxedProcess: Sendable {
    /// The process id in this (the host's) PID namespace.
    let pid: pid_t
    /// Started by an earlier owner: not a child of this process, its exit status is not ours to read.
    let adopted: Bool
    private let pidfd: Int32
    private let exitState = Mutex<ChildProcess.Exit?>(nil)

    init(pid: pid_t, pidfd: Int32, adopted: Bool = false) {
        self.pid = pid
        self.pidfd = pidfd
        self.adopted = adopted
    }

    /// Holds a running process an earlier owner started, or nil if it is gone.
    static func adopt(pid: pid_t) -> SandboxedProcess? {
        let fd = csandbox_pidfd_open(pid)
        guard fd >= 0 else { return nil }
        let process = SandboxedProcess(pid: pid, pidfd: fd, adopted: true)
        return process.poll() == nil ? process : nil
    }

    deinit {
        close(pidfd)
    }

    /// The exit, once the process has ended (reaps it); nil while it runs.
    func poll() -> ChildProcess.Exit? {
        exitState.withLock { state in
            if let state { return state }
            var signal: Int32 = 0
            var status: Int32 = 0
            let r = csandbox_reap(pidfd, &signal, &status)
            if r == 1 {
                state = signal == 0 ? .exited(status) : .signalled(signal)
            } else if r == -ECHILD {
                // Not ours to reap (adopted): the pidfd turns readable when it ends.
                if csandbox_pidfd_ended(pidfd) != 0 { state = .exited(-1) }
            } else if r < 0 {
                state = .exited(-1)
            }
            return state
        }
    }

    /// Sends `signal` (PID 1 of a namespace gets only the signals it handles, and SIGKILL).
    func signal(_ signal: Int32) {
        guard poll() == nil else { return }
        _ = csandbox_pidfd_signal(pidfd, signal)
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns once the process is reaped.
    func stop(grace: Double) async -> ChildProcess.Exit {
        signal(SIGTERM)
        let deadline = HTTPDate.monotonic() + grace
        var killed = false
        // Most instances end within milliseconds; a thousand stopping at once must not spin.
        var pause = 1
        while true {
            if let exit = poll() { return exit }
            if !killed, HTTPDate.monotonic() >= deadline {
                signal(SIGKILL)
                killed = true
            }
            try? await Task.sleep(for: .milliseconds(pause))
            pause = min(pause * 2, 50)
        }
    }
}
