#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// A part of a response body: bytes in memory or a byte range of the volume file.
enum BodyPiece {
    case buffer(ByteBuffer)
    case file(offset: Int64, length: Int64)
}

/// A body being streamed: the pieces left to hand to the channel, and the progress the object's
/// counters follow as writes complete.
struct BodyStream {
    private let pieces: [BodyPiece]
    private var index = 0
    /// Bytes of the current file piece already handed over.
    private var pieceOffset: Int64 = 0
    let total: Int64
    /// Bytes whose write completed.
    private(set) var confirmed: Int64 = 0
    /// Parts handed over whose write has not completed.
    private(set) var outstanding = 0
    let counters: ObjectCounters
    /// Keeps the volume snapshot (and its descriptor) alive until the body is sent.
    let mount: Mount
    /// Whether the body is sent by copying, never with `sendfile`: true for objects of the cache
    /// store, whose chunks the store may fill with another object as soon as this stream lets go
    /// of its mount. A write with `sendfile` completes once the socket holds the file's pages, not
    /// their bytes, so bytes still in the socket would change under the viewer if the same pages
    /// took the new object — or turn to zeros when the store punches a hole over them first: a
    /// hole over part of a page-cache folio larger than a chunk (Linux 6.18 on ext4 has them)
    /// zeroes its bytes in place instead of dropping the folio.
    let copies: Bool
    /// The descriptor this body's `FileRegion`s are sent from, made on first use.
    private var file: StreamFile?

    init(pieces: [BodyPiece], total: Int64, counters: ObjectCounters, mount: Mount, copies: Bool = false) {
        self.pieces = pieces
        self.total = total
        self.counters = counters
        self.mount = mount
        self.copies = copies
    }

    /// The handle for this body's `FileRegion`s: a duplicate of the volume's descriptor of its own,
    /// closed when the stream is released; nil when it cannot be made (descriptors exhausted).
    ///
    /// Never one handle shared between streams: NIO lets one caller at a time use a
    /// `NIOFileHandle` (since 2.77 a second, concurrent `sendfile` on another event loop fails
    /// with EBUSY), and a shared one cut bodies short under concurrent load.
    mutating func fileHandle() -> NIOFileHandle? {
        if let file = self.file { return file.handle }
        guard let file = StreamFile(duplicating: self.mount.fileDescriptor) else { return nil }
        self.file = file
        return file.handle
    }

    /// Whether every piece has been handed to the channel.
    var isHandedOver: Bool { self.index >= self.pieces.count }

    /// The next part to hand to the channel: a buffer, or at most `chunkSize` bytes of the volume
    /// file; nil once all are handed over.
    mutating func next(chunkSize: Int64) -> BodyPiece? {
        guard self.index < self.pieces.count else { return nil }
        self.outstanding += 1
        switch self.pieces[self.index] {
        case .buffer(let buffer):
            self.index += 1
            return .buffer(buffer)
        case .file(let offset, let length):
            let count = min(chunkSize, length - self.pieceOffset)
            let part = BodyPiece.file(offset: offset + self.pieceOffset, length: count)
            self.pieceOffset += count
            if self.pieceOffset == length {
                self.index += 1
                self.pieceOffset = 0
            }
            return part
        }
    }

    /// The write of a part of `count` bytes completed; true when the whole body is written.
    mutating func written(_ count: Int64) -> Bool {
        let before = self.confirmed
        self.confirmed += count
        self.outstanding -= 1
        self.counters.recordProgress(before: before, after: self.confirmed, total: self.total)
        guard self.isHandedOver, self.outstanding == 0 else { return false }
        self.counters.recordCompletion()
        return true
    }
}

/// A duplicate of the volume's descriptor owned by one body stream, closed with it. NIO has failed
/// or finished the stream's `FileRegion`s by then: the stream is released only when its last write
/// completed or its channel closed.
final class StreamFile {
    let handle: NIOFileHandle

    init?(duplicating descriptor: CInt) {
        let duplicate = dup(descriptor)
        guard duplicate >= 0 else { return nil }
        self.handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: duplicate)
    }

    deinit {
        try? self.handle.close()
    }
}
