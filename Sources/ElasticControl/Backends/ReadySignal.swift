#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Synchronization

/// Wakes whoever waits for an instance's ready file the moment `minicache` writes it (inotify on
/// the instance's directory), instead of every waiter probing the file each millisecond: a
/// thousand instances starting at once would otherwise cost a thousand probes and timer wake-ups
/// per millisecond on the cores they start on. One inotify descriptor and one thread per
/// process (``shared``) serve every backend.
final class ReadySignal: Sendable {
    /// nil when this kernel has no inotify (backends then let callers probe as before).
    static let shared = ReadySignal()

    private struct Waiter {
        var name: String
        var continuation: CheckedContinuation<Void, Never>
        var deadline: Task<Void, Never>?
    }

    private struct State {
        /// Watch descriptor -> waiters in that directory, by waiter number.
        var waiters: [Int32: [Int: Waiter]] = [:]
        var watches: [String: Int32] = [:]
        var next = 0
    }

    private let fd: Int32
    private let state = Mutex(State())

    private init?() {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let signal = self
        Thread.detachNewThread { signal.readEvents() }
    }

    /// Suspends until `file` exists or `seconds` passed; sleeps `seconds` without inotify or without a file.
    static func wait(for file: String?, upTo seconds: Double) async {
        guard let shared, let file else {
            try? await Task.sleep(for: .microseconds(Int64(seconds * 1_000_000)))
            return
        }
        await shared.wait(for: file, timeout: seconds)
    }

    /// Suspends until `file` exists or `timeout` seconds passed (whichever is first; the caller
    /// checks which). When its directory cannot be watched it sleeps a millisecond.
    func wait(for file: String, timeout: Double) async {
        let slash = file.lastIndex(of: "/")
        let directory = slash.map { String(file[..<$0]) } ?? "."
        let name = slash.map { String(file[file.index(after: $0)...]) } ?? file
        let number = state.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        var watched = false
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let watching = state.withLock { state -> Bool in
                var wd = state.watches[directory]
                if wd == nil {
                    let added = inotify_add_watch(fd, directory, UInt32(IN_CREATE | IN_MOVED_TO | IN_ONLYDIR))
                    guard added >= 0 else { return false }
                    wd = added
                    state.watches[directory] = added
                }
                let deadline = Task {
                    try? await Task.sleep(for: .microseconds(Int64(timeout * 1_000_000)))
                    if !Task.isCancelled { self.resume(number) }
                }
                state.waiters[wd!, default: [:]][number] = Waiter(name: name, continuation: continuation, deadline: deadline)
                return true
            }
            watched = watching
            // No watch: the caller sleeps, then probes. Written before the watch existed: it probes now.
            if !watching {
                continuation.resume()
            } else if access(file, F_OK) == 0 {
                resume(number)
            }
        }
        if !watched { try? await Task.sleep(for: .milliseconds(1)) }
    }

    /// Resumes waiter `number` if it still waits, and drops its directory's watch when it was the last there.
    private func resume(_ number: Int) {
        let waiter = state.withLock { state -> Waiter? in
            guard let wd = state.waiters.first(where: { $0.value[number] != nil })?.key else { return nil }
            let waiter = state.waiters[wd]?.removeValue(forKey: number)
            if state.waiters[wd]?.isEmpty == true {
                state.waiters[wd] = nil
                if let directory = state.watches.first(where: { $0.value == wd })?.key { state.watches[directory] = nil }
                inotify_rm_watch(fd, wd)
            }
            return waiter
        }
        waiter?.deadline?.cancel()
        waiter?.continuation.resume()
    }

    /// The thread's loop: it lives as long as the process.
    private func readEvents() {
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        while true {
            let got = read(fd, buffer, size)
            guard got > 0 else {
                if got < 0, errno != EINTR { return }
                continue
            }
            var offset = 0
            var ready: [Int] = []
            while offset + MemoryLayout<inotify_event>.size <= got {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                let nameStart = offset + MemoryLayout<inotify_event>.size
                let name = event.len > 0 ? String(cString: buffer.advanced(by: nameStart).assumingMemoryBound(to: CChar.self)) : ""
                state.withLock { state in
                    // IN_IGNORED: the directory went (its instance stopped); its waiters look again.
                    let ignored = event.mask & UInt32(IN_IGNORED) != 0
                    for (number, waiter) in state.waiters[event.wd] ?? [:] where ignored || waiter.name == name { ready.append(number) }
                    if ignored, let directory = state.watches.first(where: { $0.value == event.wd })?.key { state.watches[directory] = nil }
                }
                offset = nameStart + Int(event.len)
            }
            for number in ready { resume(number) }
        }
    }
}
