#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Synchronization

/// A child process in its own process group that dies with its parent (`PR_SET_PDEATHSIG`), or
/// outlives it when asked to (a site agent's instances survive an agent restart and are adopted,
/// see ``adopt(pid:)``).
///
/// Spawned with `fork` + `execve`; between the two the child calls only async-signal-safe
/// functions prepared before the fork.
package final class ChildProcess: Sendable {
    /// How a child ended.
    package enum Exit: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        package var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let signal): "killed by signal \(signal)"
            }
        }
    }

    package let pid: pid_t
    /// Started by an earlier process: not our child, so its exit status cannot be read.
    package let adopted: Bool
    private let exitState = Mutex<Exit?>(nil)

    private init(pid: pid_t, adopted: Bool = false) {
        self.pid = pid
        self.adopted = adopted
    }

    /// A process started by an earlier owner (found through its pid file), if it still runs.
    package static func adopt(pid: pid_t) -> ChildProcess? {
        let process = ChildProcess(pid: pid, adopted: true)
        return process.poll() == nil ? process : nil
    }

    private typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    // prctl is variadic in C, so it is reached through dlsym.
    private static let prctl: Prctl? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else { return nil }
        return unsafeBitCast(symbol, to: Prctl.self)
    }()

    private typealias CloseRange = @convention(c) (UInt32, UInt32, Int32) -> Int32
    private static let closeRange: CloseRange? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "close_range") else { return nil }
        return unsafeBitCast(symbol, to: CloseRange.self)
    }()

    /// Starts `executable` with `arguments`, stdin from /dev/null and stdout+stderr appended to `logPath`.
    ///
    /// Call it from a thread that lives as long as the child should (the death signal follows the
    /// thread that forked).
    /// - Throws: ``ControlError`` `spawnFailed`.
    /// - Parameter dieWithParent: SIGKILL the child when the forking thread ends (default).
    package static func spawn(executable: String, arguments: [String], logPath: String, dieWithParent: Bool = true) throws(ControlError) -> ChildProcess {
        guard access(executable, X_OK) == 0 else {
            throw ControlError(.spawnFailed, "\(executable) is not an executable file; build it (swift build --product minicache) or pass --minicache PATH")
        }
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw ControlError(.spawnFailed, "cannot open the log file \(logPath): errno \(errno)") }
        defer { close(logFD) }
        let nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if nullFD >= 0 { close(nullFD) } }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let parent = getpid()
        // Between fork and execve the child must not enter the Swift runtime: another thread may
        // have held one of its locks at the fork, and the child would wait for it forever (a
        // generic call such as Optional.map instantiates metadata in a debug build). Everything
        // it calls is resolved here, to plain C function pointers and values.
        let prctl: Prctl = Self.prctl ?? { _, _, _, _, _ in -1 }
        let closeRange: CloseRange = Self.closeRange ?? { _, _, _ in -1 }
        let defaultAction = SIG_DFL
        let environment = environ
        let descriptorLimit = Int32(min(sysconf(Int32(_SC_OPEN_MAX)), 65536))
        let pid = argv.withUnsafeBufferPointer { argvBuffer -> pid_t in
            let child = fork()
            if child == 0 {
                setpgid(0, 0)
                if dieWithParent {
                    _ = prctl(1 /* PR_SET_PDEATHSIG */, UInt(SIGKILL), 0, 0, 0)
                    if getppid() != parent { _exit(1) }
                }
                var empty = sigset_t()
                sigemptyset(&empty)
                sigprocmask(SIG_SETMASK, &empty, nil)
                Glibc.signal(SIGTERM, defaultAction)
                Glibc.signal(SIGINT, defaultAction)
                Glibc.signal(SIGPIPE, defaultAction)
                if nullFD >= 0 { dup2(nullFD, 0) }
                dup2(logFD, 1)
                dup2(logFD, 2)
                // Listening sockets of this process must not live on in the child.
                if closeRange(3, UInt32.max, 0) != 0 {
                    var fd: Int32 = 3
                    while fd < descriptorLimit {
                        close(fd)
                        fd += 1
                    }
                }
                execve(argvBuffer[0]!, argvBuffer.baseAddress!, environment)
                _exit(127)
            }
            return child
        }
        guard pid > 0 else { throw ControlError(.spawnFailed, "fork failed: errno \(errno)") }
        setpgid(pid, pid)
        return ChildProcess(pid: pid)
    }

    /// The exit, once the child has ended (reaps it); nil while it runs.
    package func poll() -> Exit? {
        exitState.withLock { state in
            if let state { return state }
            if adopted {
                // Not our child: alive while it can be signalled and is no zombie.
                let stat = Self.readStat(pid)
                if kill(pid, 0) != 0 || stat == nil || stat?.contains(") Z ") == true { state = .exited(-1) }
                return state
            }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            guard r == pid else {
                if r < 0, errno == ECHILD { state = .exited(-1) }
                return state
            }
            // WIFEXITED / WTERMSIG are macros; decode the status by hand.
            let signal = status & 0x7F
            state = signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
            return state
        }
    }

    private static func readStat(_ pid: pid_t) -> String? {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The command line of a running process (arguments joined by spaces), if readable.
    package static func commandLine(_ pid: pid_t) -> String? {
        guard let file = fopen("/proc/\(pid)/cmdline", "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }

    /// Sends `signal` to the child's process group.
    package func signal(_ signal: Int32) {
        guard poll() == nil else { return }
        kill(-pid, signal)
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns once the child is reaped.
    package func stop(grace: Double) async -> Exit {
        signal(SIGTERM)
        let deadline = HTTPDate.monotonic() + grace
        while true {
            if let exit = poll() { return exit }
            if HTTPDate.monotonic() >= deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
