import NIOCore

/// The record a cache keeps under a URL's primary digest when the URL's responses carry
/// `Vary`: the nominated field names, so a lookup can compute the secondary key, and the
/// digests of the variants stored, so invalidation and purge remove every one of them.
///
/// Encoded form (big-endian): magic `MCVI`, format version (UInt16), total length (UInt32),
/// wildcard flag (UInt8), name count (UInt16) then per name its length (UInt16) and bytes,
/// variant count (UInt16) then 32 bytes per digest, and a CRC-32 of everything before it.
package struct VaryIndex: Sendable, Equatable {
    /// The `Vary` of the URL's latest response.
    package var selector: VarySelector
    /// The stored variants, oldest first.
    package private(set) var variants: [CacheDigest]

    /// The most variants kept per URL; adding one more forgets the oldest, which the caller
    /// then deletes. Default 64.
    package static let defaultVariantLimit = 64

    static let magic: UInt32 = 0x4D43_5649  // "MCVI"
    static let formatVersion: UInt16 = 1

    /// Creates an index.
    package init(selector: VarySelector, variants: [CacheDigest] = []) {
        self.selector = selector
        self.variants = variants
    }

    /// Records a stored variant; returns the variants dropped to stay within `limit` (to delete).
    package mutating func add(_ digest: CacheDigest, limit: Int = defaultVariantLimit) -> [CacheDigest] {
        variants.removeAll { $0 == digest }
        variants.append(digest)
        guard variants.count > limit else { return [] }
        let dropped = Array(variants.prefix(variants.count - limit))
        variants.removeFirst(dropped.count)
        return dropped
    }

    /// Forgets a variant (evicted or purged).
    package mutating func remove(_ digest: CacheDigest) {
        variants.removeAll { $0 == digest }
    }

    /// The encoded record.
    package func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.magic)
        buffer.writeInteger(Self.formatVersion)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt8(selector.isWildcard ? 1 : 0))
        buffer.writeInteger(UInt16(clamping: selector.names.count))
        for name in selector.names.prefix(Int(UInt16.max)) {
            let utf8 = name.utf8.prefix(Int(UInt16.max))
            buffer.writeInteger(UInt16(utf8.count))
            buffer.writeBytes(utf8)
        }
        buffer.writeInteger(UInt16(clamping: variants.count))
        for digest in variants.prefix(Int(UInt16.max)) { buffer.writeBytes(digest.bytes) }
        buffer.setInteger(UInt32(buffer.readableBytes + 4), at: 6)
        let crc = buffer.withUnsafeReadableBytes { CRC32.checksum($0) }
        buffer.writeInteger(crc)
        return buffer
    }

    /// Decodes a record from the front of `buffer`.
    /// - Throws: ``StoredResponse/MetadataError`` when the bytes are not an intact record.
    package init(decoding buffer: inout ByteBuffer) throws(StoredResponse.MetadataError) {
        let start = buffer.readerIndex
        guard buffer.getInteger(at: start, as: UInt32.self) == Self.magic else {
            throw StoredResponse.MetadataError(reason: "bad magic")
        }
        guard buffer.getInteger(at: start + 4, as: UInt16.self) == Self.formatVersion else {
            throw StoredResponse.MetadataError(reason: "unknown format version")
        }
        guard let total = buffer.getInteger(at: start + 6, as: UInt32.self).map(Int.init), total >= 14,
            total <= buffer.readableBytes
        else { throw StoredResponse.MetadataError(reason: "truncated") }
        let crc = buffer.withUnsafeReadableBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(total - 4)])) }
        guard buffer.getInteger(at: start + total - 4, as: UInt32.self) == crc else {
            throw StoredResponse.MetadataError(reason: "checksum mismatch")
        }
        var block = buffer.getSlice(at: start + 10, length: total - 14)!
        guard let wildcard = block.readInteger(as: UInt8.self), let nameCount = block.readInteger(as: UInt16.self) else {
            throw StoredResponse.MetadataError(reason: "truncated fields")
        }
        var names: [String] = []
        for _ in 0..<nameCount {
            guard let length = block.readInteger(as: UInt16.self), let name = block.readString(length: Int(length)) else {
                throw StoredResponse.MetadataError(reason: "truncated name")
            }
            names.append(name)
        }
        guard let variantCount = block.readInteger(as: UInt16.self) else {
            throw StoredResponse.MetadataError(reason: "truncated variants")
        }
        var variants: [CacheDigest] = []
        for _ in 0..<variantCount {
            guard let bytes = block.readBytes(length: 32) else { throw StoredResponse.MetadataError(reason: "truncated digest") }
            variants.append(CacheDigest(bytes: bytes))
        }
        buffer.moveReaderIndex(forwardBy: total)
        self.init(selector: VarySelector(names: names, isWildcard: wildcard == 1), variants: variants)
    }

    /// What a record read from a primary digest is.
    package enum RecordKind: Sendable, Equatable {
        /// A ``StoredResponse`` block followed by the body.
        case response
        /// A ``VaryIndex``.
        case varyIndex
        /// Neither: not written by this cache.
        case unknown
    }

    /// Tells a stored response from a vary index by its magic.
    package static func kind(of buffer: ByteBuffer) -> RecordKind {
        switch buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
        case StoredResponse.metadataMagic: return .response
        case magic: return .varyIndex
        default: return .unknown
        }
    }
}
