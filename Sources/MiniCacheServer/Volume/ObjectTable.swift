import SHFS

/// The prepared objects of a mount by hash-table slot, in fixed-size chunks that mounts share:
/// a mount derived from another (one object stored or evicted) copies one chunk and the chunk
/// list, not the table. Lookups by digest scan the digest's SHFS bucket, as the volume does.
package struct ObjectTable: Sendable, Sequence {
    private static let chunkShift = 8
    private static let chunkSize = 1 << chunkShift

    /// Chunks of `chunkSize` slots; an empty array stands for a chunk with no object.
    private var chunks: [[PreparedObject?]]
    private let bucketCount: Int
    private let entriesPerBucket: Int
    private let hexLength: Int
    /// Objects in the table.
    package private(set) var count: Int

    package init(header: VolumeHeader) {
        let slots = header.bucketCount * header.entriesPerBucket
        self.chunks = Array(repeating: [], count: (slots + Self.chunkSize - 1) >> Self.chunkShift)
        self.bucketCount = header.bucketCount
        self.entriesPerBucket = header.entriesPerBucket
        self.hexLength = header.digestLength * 2
        self.count = 0
    }

    /// The object in `slot`, which must hold one (indexes come from ``lookup(_:)-3x6gs`` or iteration).
    @inline(__always)
    package subscript(slot: Int) -> PreparedObject {
        self.chunks[slot >> Self.chunkShift][slot & (Self.chunkSize - 1)]!
    }

    /// The object in `slot`, if any.
    @inline(__always)
    package func object(at slot: Int) -> PreparedObject? {
        let chunk = self.chunks[slot >> Self.chunkShift]
        return chunk.isEmpty ? nil : chunk[slot & (Self.chunkSize - 1)]
    }

    /// Puts `object` in `slot` (nil empties it).
    package mutating func set(_ object: PreparedObject?, at slot: Int) {
        let c = slot >> Self.chunkShift
        if self.chunks[c].isEmpty {
            guard object != nil else { return }
            self.chunks[c] = Array(repeating: nil, count: Self.chunkSize)
        }
        let before = self.chunks[c][slot & (Self.chunkSize - 1)] != nil
        self.chunks[c][slot & (Self.chunkSize - 1)] = object
        self.count += (object != nil ? 1 : 0) - (before ? 1 : 0)
    }

    /// The slot of the object whose lower-case hex digest is `key`.
    package func lookup(_ key: UnsafeRawBufferPointer) -> Int? {
        guard key.count == self.hexLength, key.count >= 8 else { return nil }
        var value: UInt32 = 0
        for i in 0..<4 {
            guard let hi = Self.nibble(key[2 * i]), let lo = Self.nibble(key[2 * i + 1]) else { return nil }
            value |= UInt32(hi << 4 | lo) << (8 * UInt32(i))
        }
        let first = Int(value) % self.bucketCount * self.entriesPerBucket
        for slot in first..<(first + self.entriesPerBucket) {
            if let object = self.object(at: slot), object.etag.withUnsafeBytes({ $0.elementsEqual(key) }) { return slot }
        }
        return nil
    }

    package func lookup(_ key: [UInt8]) -> Int? {
        key.withUnsafeBytes { self.lookup($0) }
    }

    @inline(__always)
    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        default: nil
        }
    }

    package func makeIterator() -> Iterator {
        Iterator(chunks: self.chunks)
    }

    package struct Iterator: IteratorProtocol {
        fileprivate let chunks: [[PreparedObject?]]
        private var chunk = 0
        private var index = 0

        fileprivate init(chunks: [[PreparedObject?]]) { self.chunks = chunks }

        package mutating func next() -> PreparedObject? {
            while self.chunk < self.chunks.count {
                let current = self.chunks[self.chunk]
                while self.index < current.count {
                    defer { self.index += 1 }
                    if let object = current[self.index] { return object }
                }
                self.chunk += 1
                self.index = 0
            }
            return nil
        }
    }
}
