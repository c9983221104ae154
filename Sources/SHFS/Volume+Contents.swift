import SystemPackage

extension Volume {
    /// The whole content of a local object.
    ///
    /// - Throws: ``SHFSError`` with ``SHFSError/Code/invalidArgument`` for a link,
    ///   ``SHFSError/Code/io`` when the volume cannot be read.
    public func contents(of entry: Entry) throws(SHFSError) -> [UInt8] {
        guard let extent = entry.extent else {
            throw SHFSError(.invalidArgument, "\(path): '\(entry.name)' is a link to \(entry.link!.url), it has no local content")
        }
        return try read(extent, offset: 0, count: Int(extent.length))
    }

    /// Reads `count` bytes of an extent starting `offset` bytes into it (clamped to the extent).
    public func read(_ extent: Extent, offset: Int64, count: Int) throws(SHFSError) -> [UInt8] {
        let n = Int(max(0, min(Int64(count), extent.length - offset)))
        var out = [UInt8](unsafeUninitializedCapacity: n) { _, c in c = n }
        let got: Int
        do {
            got = try fileDescriptor.pread(into: &out, at: extent.byteOffset + offset)
        } catch {
            throw .io("\(path): cannot read object at byte \(extent.byteOffset + offset)", error)
        }
        guard got == n else {
            throw SHFSError(.corruptVolume, "\(path): object at byte \(extent.byteOffset) is cut short by the end of the file")
        }
        return out
    }

    /// Calls `body` with successive blocks of an object's content, read `blockSize` bytes at a time.
    public func forEachBlock(of extent: Extent, blockSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws(SHFSError) -> Void) throws(SHFSError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 4096)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while done < extent.length {
            let n = Int(min(Int64(blockSize), extent.length - done))
            let got: Int
            do {
                got = try fileDescriptor.preadFully(at: extent.byteOffset + done, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]))
            } catch {
                throw .io("\(path): cannot read object at byte \(extent.byteOffset + done)", error)
            }
            guard got == n else {
                throw SHFSError(.corruptVolume, "\(path): object at byte \(extent.byteOffset) is cut short by the end of the file")
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            done += Int64(n)
        }
    }
}
