#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NIOPosix
import SHFS
import Synchronization

/// Fresh SHFS volumes formatted ahead of need, so an instance start only renames one
/// (formatting syncs the disk twice, which costs milliseconds to tens of milliseconds on a busy
/// disk). Spares are formatted on a thread of their own, off the start path.
final class VolumePool: Sendable {
    let directory: String
    let volumeSize: Int64
    let spares: Int
    private let logger: Logger
    private let preparer: MultiThreadedEventLoopGroup
    /// `paused`: after ``removeSpares()`` nothing is formatted until the next ``take(to:)``.
    private let state = Mutex<(ready: [String], preparing: Bool, paused: Bool, serial: Int)>(([], false, false, 0))

    /// - Parameters:
    ///   - directory: where spares are kept (`spare-N.shfs`).
    ///   - spares: how many to keep formatted.
    init(directory: String, volumeSize: Int64, spares: Int, logger: Logger) {
        self.directory = directory
        self.volumeSize = volumeSize
        self.spares = spares
        self.logger = logger
        self.preparer = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        prepare()
    }

    deinit {
        preparer.shutdownGracefully { _ in }
    }

    /// Formats spare volumes until there are ``spares``.
    private func prepare() {
        let start = state.withLock { state -> Bool in
            guard !state.preparing, !state.paused, state.ready.count < spares else { return false }
            state.preparing = true
            return true
        }
        guard start else { return }
        preparer.next().execute {
            while true {
                let path: String? = self.state.withLock { state in
                    guard !state.paused, state.ready.count < self.spares else {
                        state.preparing = false
                        return nil
                    }
                    state.serial += 1
                    return "\(self.directory)/spare-\(state.serial).shfs"
                }
                guard let path else { return }
                do {
                    try Volume.format(path: path, options: FormatOptions(size: self.volumeSize, name: "ecdn", force: true))
                    // Spares removed meanwhile: this one goes too.
                    let kept = self.state.withLock { state -> Bool in
                        guard !state.paused else { return false }
                        state.ready.append(path)
                        return true
                    }
                    if !kept { unlink(path) }
                } catch {
                    self.logger.warning("cannot prepare a spare volume", metadata: ["path": "\(path)", "error": "\(error)"])
                    self.state.withLock { $0.preparing = false }
                    return
                }
            }
        }
    }

    /// A fresh volume at `path`: a spare renamed, or formatted now if none is left.
    /// - Throws: ``ControlError`` `volumeFailed`.
    func take(to path: String) throws(ControlError) {
        defer { prepare() }
        let spare = state.withLock { state -> String? in
            state.paused = false
            return state.ready.popLast()
        }
        if let spare, rename(spare, path) == 0 { return }
        do {
            try Volume.format(path: path, options: FormatOptions(size: volumeSize, name: "ecdn", force: true))
        } catch {
            throw ControlError(.volumeFailed, "cannot create the volume \(path): \(error)", underlying: error)
        }
    }

    /// Deletes the spares and stops formatting more until the next ``take(to:)`` (at shutdown:
    /// before, the formatting thread went on refilling the pool behind the removal).
    func removeSpares() {
        for spare in state.withLock({ state -> [String] in
            state.paused = true
            defer { state.ready = [] }
            return state.ready
        }) {
            unlink(spare)
        }
    }
}
