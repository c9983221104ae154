#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// Positioned whole-buffer I/O and locking on volume files.
extension FileDescriptor {
    /// Reads exactly `buffer.count` bytes at `offset`; returns fewer only at end of file.
    func preadFully(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        var done = 0
        while done < buffer.count {
            let n: Int
            do {
                n = try read(fromAbsoluteOffset: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), retryOnInterrupt: true)
            } catch let e as Errno {
                throw e
            } catch {
                throw Errno.ioError
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads up to `array.count` bytes at `offset` into `array`; returns how many were read.
    func pread(into array: inout [UInt8], at offset: Int64) throws(Errno) -> Int {
        var result: Result<Int, Errno> = .success(0)
        array.withUnsafeMutableBytes { b in
            result = Result { () throws(Errno) -> Int in try self.preadFully(at: offset, into: b) }
        }
        return try result.get()
    }

    /// Writes all of `bytes` at `offset`.
    func pwrite(_ bytes: [UInt8], at offset: Int64) throws(Errno) {
        var result: Result<Void, Errno> = .success(())
        bytes.withUnsafeBytes { b in
            result = Result { () throws(Errno) in try self.pwriteFully(at: offset, b) }
        }
        try result.get()
    }

    /// Writes all of `buffer` at `offset`.
    func pwriteFully(at offset: Int64, _ buffer: UnsafeRawBufferPointer) throws(Errno) {
        var done = 0
        while done < buffer.count {
            do {
                done += try write(toAbsoluteOffset: offset + Int64(done), UnsafeRawBufferPointer(rebasing: buffer[done...]), retryOnInterrupt: true)
            } catch let e as Errno {
                throw e
            } catch {
                throw Errno.ioError
            }
        }
    }

    /// Size in bytes of a regular file or a block device.
    func volumeSize() throws(Errno) -> Int64 {
        try sizeOfFileOrDevice(rawValue)
    }

    /// Flushes written data to stable storage.
    func syncData() throws(Errno) {
        #if canImport(Darwin)
        guard fsync(rawValue) == 0 else { throw Errno(rawValue: errno) }
        #else
        guard fdatasync(rawValue) == 0 else { throw Errno(rawValue: errno) }
        #endif
    }

    /// Takes the whole-volume writer lock (`flock`), waiting for another writer if `wait`.
    func lockExclusive(wait: Bool) throws(Errno) {
        while flock(rawValue, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            if errno == EINTR { continue }
            throw Errno(rawValue: errno)
        }
    }

    /// Locks a byte range of the hash table for the duration of `body`: shared for readers loading
    /// the table, exclusive for a writer updating one entry, so a reader never sees half an entry.
    /// Uses open-file-description locks, which are independent of the writer's `flock`.
    func withRangeLock<T, E: Error>(exclusive: Bool, offset: Int64, length: Int64, _ body: () throws(E) -> T) throws(E) -> T {
        #if os(Linux)
        let setLockWait: Int32 = 38  // F_OFD_SETLKW
        var lock = Glibc.flock()
        lock.l_type = Int16(exclusive ? F_WRLCK : F_RDLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = off_t(offset)
        lock.l_len = off_t(length)
        var locked = false
        while true {
            if fcntl(rawValue, setLockWait, &lock) == 0 { locked = true; break }
            if errno != EINTR { break }  // Locking is best effort: no OFD locks (old kernel, some filesystems).
        }
        defer {
            if locked {
                lock.l_type = Int16(F_UNLCK)
                _ = fcntl(rawValue, setLockWait, &lock)
            }
        }
        #endif
        return try body()
    }
}

private func sizeOfFileOrDevice(_ fd: Int32) throws(Errno) -> Int64 {
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw Errno(rawValue: errno) }
    if (st.st_mode & S_IFMT) == S_IFBLK {
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw Errno(rawValue: errno) }
        return Int64(end)
    }
    return Int64(st.st_size)
}
