#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

extension Mount {
    /// Reads `count` bytes of the volume file at `position` into `buffer` (`pread`, retried on
    /// `EINTR`); false when the file ends early or cannot be read.
    func read(into buffer: inout ByteBuffer, at position: Int64, count: Int) -> Bool {
        let fd = self.fileDescriptor
        var failed = false
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            var done = 0
            while done < count {
                let n = pread(fd, target.baseAddress! + done, count - done, off_t(position) + off_t(done))
                if n > 0 {
                    done += n
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    failed = true
                    break
                }
            }
            return done
        }
        return !failed
    }
}
