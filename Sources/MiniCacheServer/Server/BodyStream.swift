import NIOCore

/// A part of a response body: bytes in memory or a byte range of the volume file.
enum BodyPiece {
    case buffer(ByteBuffer)
    case file(offset: Int64, length: Int64)
}

/// A body being streamed: the pieces left, and progress for the object's counters.
struct BodyStream {
    var pieces: [BodyPiece]
    var index = 0
    /// Bytes of the current file piece already handed to the channel.
    var pieceOffset: Int64 = 0
    let total: Int64
    /// Bytes whose write completed.
    var confirmed: Int64 = 0
    var outstanding = 0
    let counters: ObjectCounters
    /// Keeps the volume snapshot (and its descriptor) alive until the body is sent.
    let mount: Mount

    init(pieces: [BodyPiece], total: Int64, counters: ObjectCounters, mount: Mount) {
        self.pieces = pieces
        self.total = total
        self.counters = counters
        self.mount = mount
    }

    var isHandedOver: Bool { self.index >= self.pieces.count }
}
