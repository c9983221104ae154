#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MiniCacheTesting

/// Keeps a cache's store from committing while it holds the volume's writer lock (the store
/// takes it for every write), as a writer in another process would: a fill that ended stays
/// held, joinable, until ``release()``.
final class StoreBlock {
    private let descriptor: CInt

    /// Takes the writer lock of the volume at `volume`.
    init(volume: String) throws {
        self.descriptor = open(volume, O_RDWR | O_CLOEXEC)
        guard self.descriptor >= 0, flock(self.descriptor, LOCK_EX) == 0 else {
            throw TestClientError(description: "cannot lock \(volume)")
        }
    }

    /// Lets the store commit.
    func release() {
        _ = flock(self.descriptor, LOCK_UN)
    }

    deinit {
        close(self.descriptor)
    }
}
