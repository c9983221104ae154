#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinuxCalls
import NIOCore
import Synchronization

/// A shared fill's body in an anonymous memory file, written once as it arrives, so that each
/// viewer on a plain connection sends it with `sendfile` instead of copying it from the fill's
/// buffers: a live segment's hundred viewers then cost one copy, not a hundred.
///
/// Nothing ever rewrites a byte of the file, so bytes the kernel still holds for a socket after
/// a `sendfile` returned stay what was sent. The file is closed when the last viewer's write that
/// uses it has completed (each keeps the file alive until then).
package final class FillFile: Sendable {
    private let descriptor: CInt
    /// One handle per event loop: NIO lets one caller at a time use a `NIOFileHandle`.
    private let handles = Mutex<[ObjectIdentifier: NIOFileHandle]>([:])

    /// A new empty memory file; nil when the system has none to give (the fill then shares buffers).
    package init?() {
        let descriptor = clinux_memfd_create("minicache-fill")
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
    }

    deinit {
        for handle in self.handles.withLock({ Array($0.values) }) { try? handle.close() }
        close(self.descriptor)
    }

    /// Writes `part` at `offset`; false when the file cannot take it.
    package func write(_ part: ByteBuffer, at offset: Int) -> Bool {
        part.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let written = pwrite(self.descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return false }
                done += written
            }
            return true
        }
    }

    /// The handle `FileRegion`s on `eventLoop` send this file from; nil when no descriptor is left.
    package func handle(on eventLoop: any EventLoop) -> NIOFileHandle? {
        let key = ObjectIdentifier(eventLoop)
        return self.handles.withLock { handles in
            if let handle = handles[key] { return handle }
            let duplicate = dup(self.descriptor)
            guard duplicate >= 0 else { return nil }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: duplicate)
            handles[key] = handle
            return handle
        }
    }

}

/// Bytes of a ``FillFile``: where a body part also lies in the fill's memory file.
package struct FileSpan: Sendable {
    package let file: FillFile
    package var offset: Int
    package var length: Int

    /// The span right after this one in the same file, or nil.
    func joined(with next: FileSpan) -> FileSpan? {
        guard next.file === self.file, next.offset == self.offset + self.length else { return nil }
        return FileSpan(file: self.file, offset: self.offset, length: self.length + next.length)
    }
}
