import NIOCore
import NIOHTTP1

/// The compact binary form of a ``StoredResponse`` kept in the volume next to the body, so a
/// restarted cache answers from what it stored.
///
/// Layout (big-endian): magic `MCSR`, format version (UInt16), total length of the block
/// (UInt32), status (UInt16), flags (UInt16, bit 0: body length known; bit 1 / 2: the directives
/// come from `CDN-Cache-Control` / `Surrogate-Control`), request time (Int64),
/// response time (Int64), body length (UInt64), header count (UInt16) then per field name
/// (UInt16 length + bytes) and value (UInt32 length + bytes), the `Vary` wildcard (UInt8),
/// nominated name count (UInt16) then per name the name, a presence byte and the value; from
/// version 2 the request URL (presence byte, UInt32 length + bytes) and the store time (Int64,
/// nanoseconds); last a CRC-32 of everything before it. A torn or foreign block fails the check.
/// Version 1 blocks (no URL, no store time) are still read.
extension StoredResponse {
    /// The current format version.
    package static let metadataFormatVersion: UInt16 = 2
    static let metadataMagic: UInt32 = 0x4D43_5352  // "MCSR"

    /// Why stored metadata cannot be decoded.
    package struct MetadataError: Error, Equatable, CustomStringConvertible {
        /// What is wrong.
        package var reason: String

        /// Creates an error.
        package init(reason: String) { self.reason = reason }

        package var description: String {
            "cached response metadata unreadable (\(reason)); the object must be dropped and fetched again"
        }
    }

    /// Appends the encoded metadata to `buffer`.
    package func encode(into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(Self.metadataMagic)
        buffer.writeInteger(Self.metadataFormatVersion)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt16(clamping: status))
        buffer.writeInteger(UInt16(bodyLength == nil ? 0 : 1) | Self.targetedFlag(targetedField))
        buffer.writeInteger(requestTime)
        buffer.writeInteger(responseTime)
        buffer.writeInteger(bodyLength ?? 0)
        buffer.writeInteger(UInt16(clamping: headers.count))
        for (name, value) in headers.prefix(Int(UInt16.max)) {
            Self.writeShort(name, into: &buffer)
            buffer.writeInteger(UInt32(value.utf8.count))
            buffer.writeString(value)
        }
        buffer.writeInteger(UInt8(vary.isWildcard ? 1 : 0))
        buffer.writeInteger(UInt16(clamping: vary.names.count))
        for (name, value) in zip(vary.names, varyValues) {
            Self.writeShort(name, into: &buffer)
            buffer.writeInteger(UInt8(value == nil ? 0 : 1))
            buffer.writeInteger(UInt32(value?.utf8.count ?? 0))
            if let value { buffer.writeString(value) }
        }
        buffer.writeInteger(UInt8(url == nil ? 0 : 1))
        buffer.writeInteger(UInt32(url?.utf8.count ?? 0))
        if let url { buffer.writeString(url) }
        buffer.writeInteger(storedAt)
        let total = UInt32(buffer.writerIndex - start + 4)
        buffer.setInteger(total, at: lengthIndex)
        let offset = start - buffer.readerIndex
        let crc = buffer.withUnsafeReadableBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        buffer.writeInteger(crc)
    }

    /// The encoded metadata as bytes.
    package func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }

    /// Reads metadata from the front of `buffer`, consuming exactly the block; the body follows.
    /// - Throws: ``MetadataError`` when the block is truncated, corrupt or of an unknown version.
    package init(decoding buffer: inout ByteBuffer) throws(MetadataError) {
        let start = buffer.readerIndex
        guard let magic = buffer.getInteger(at: start, as: UInt32.self), magic == Self.metadataMagic else {
            throw MetadataError(reason: "bad magic")
        }
        guard let version = buffer.getInteger(at: start + 4, as: UInt16.self), version == 1 || version == Self.metadataFormatVersion else {
            throw MetadataError(reason: "unknown format version")
        }
        guard let total = buffer.getInteger(at: start + 6, as: UInt32.self), total >= 14,
            Int(total) <= buffer.readableBytes
        else {
            throw MetadataError(reason: "truncated")
        }
        let expected = buffer.getInteger(at: start + Int(total) - 4, as: UInt32.self)
        let actual = buffer.withUnsafeReadableBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(Int(total) - 4)])) }
        guard expected == actual else { throw MetadataError(reason: "checksum mismatch") }

        var block = buffer.getSlice(at: start + 10, length: Int(total) - 14)!
        guard let status = block.readInteger(as: UInt16.self), let flags = block.readInteger(as: UInt16.self),
            let requestTime = block.readInteger(as: Int64.self), let responseTime = block.readInteger(as: Int64.self),
            let bodyLength = block.readInteger(as: UInt64.self), let headerCount = block.readInteger(as: UInt16.self)
        else { throw MetadataError(reason: "truncated fields") }
        var headers = HTTPHeaders()
        for _ in 0..<headerCount {
            guard let name = Self.readShort(&block), let length = block.readInteger(as: UInt32.self),
                let value = block.readString(length: Int(length))
            else { throw MetadataError(reason: "truncated header") }
            headers.add(name: name, value: value)
        }
        guard let wildcard = block.readInteger(as: UInt8.self), let varyCount = block.readInteger(as: UInt16.self) else {
            throw MetadataError(reason: "truncated vary")
        }
        var names: [String] = []
        var values: [String?] = []
        for _ in 0..<varyCount {
            guard let name = Self.readShort(&block), let present = block.readInteger(as: UInt8.self),
                let length = block.readInteger(as: UInt32.self), let value = block.readString(length: Int(length))
            else { throw MetadataError(reason: "truncated vary value") }
            names.append(name)
            values.append(present == 1 ? value : nil)
        }
        var url: String?
        var storedAt: Int64 = 0
        if version >= 2 {
            guard let present = block.readInteger(as: UInt8.self), let length = block.readInteger(as: UInt32.self),
                let value = block.readString(length: Int(length)), let time = block.readInteger(as: Int64.self)
            else { throw MetadataError(reason: "truncated URL") }
            url = present == 1 ? value : nil
            storedAt = time
        }
        buffer.moveReaderIndex(forwardBy: Int(total))
        self.init(
            status: Int(status), headers: headers, requestTime: requestTime, responseTime: responseTime,
            vary: VarySelector(names: names, isWildcard: wildcard == 1), varyValues: values,
            bodyLength: flags & 1 == 1 ? bodyLength : nil, targetedField: Self.targetedField(flags: flags))
        self.url = url
        self.storedAt = storedAt
    }

    // Flag bits 1 and 2: the directives came from CDN-Cache-Control / Surrogate-Control. Older
    // readers ignore them (and fall back to Cache-Control).
    private static func targetedFlag(_ field: TargetedField?) -> UInt16 {
        switch field {
        case .cdnCacheControl: 2
        case .surrogateControl: 4
        case nil: 0
        }
    }

    private static func targetedField(flags: UInt16) -> TargetedField? {
        flags & 2 != 0 ? .cdnCacheControl : flags & 4 != 0 ? .surrogateControl : nil
    }

    private static func writeShort(_ string: String, into buffer: inout ByteBuffer) {
        let utf8 = string.utf8.prefix(Int(UInt16.max))
        buffer.writeInteger(UInt16(utf8.count))
        buffer.writeBytes(utf8)
    }

    private static func readShort(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}
