import NIOCore
import SHFS

/// The body of a response to store: the buffers it arrived in from the origin, kept as they are
/// (shared with the fill's viewers, never copied into one array) and written to the volume part by
/// part.
package struct StoredBody: Sendable {
    package private(set) var parts: [ByteBuffer]
    /// Bytes in all parts.
    package private(set) var count: Int

    package init(parts: [ByteBuffer] = []) {
        self.parts = parts
        self.count = parts.reduce(0) { $0 + $1.readableBytes }
    }

    package init(_ bytes: [UInt8]) {
        self.init(parts: bytes.isEmpty ? [] : [ByteBuffer(bytes: bytes)])
    }

    package mutating func append(_ part: ByteBuffer) {
        guard part.readableBytes > 0 else { return }
        self.parts.append(part)
        self.count += part.readableBytes
    }

    /// The bytes in one array (for objects small enough to be kept in memory).
    package var bytes: [UInt8] {
        if self.parts.count == 1 { return Array(self.parts[0].readableBytesView) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.count)
        for part in self.parts { bytes.append(contentsOf: part.readableBytesView) }
        return bytes
    }

    /// Writes the body at `offset` of the reserved chunks `run`, one write per part.
    func write(with writer: VolumeWriter, at offset: Int64, into run: Range<Int64>) throws(SHFSError) {
        var position = offset
        for part in self.parts {
            let written = part.withUnsafeReadableBytes { bytes -> Result<Void, SHFSError> in
                do throws(SHFSError) {
                    try writer.write(bytes, at: position, into: run)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try written.get()
            position += Int64(part.readableBytes)
        }
    }
}
