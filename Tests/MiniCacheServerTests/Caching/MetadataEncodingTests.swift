@testable import MiniCacheServer
import NIOCore
import NIOHTTP1
import Testing

struct MetadataEncodingTests {
    typealias F = CacheFixtures

    func sample() -> StoredResponse {
        var stored = F.stored(
            200,
            [("Cache-Control", "max-age=60"), ("ETag", #""v1""#), ("Content-Type", "video/mp2t"), ("Vary", "Accept-Encoding, X-Mode")],
            request: F.request(.GET, "/a", [("Accept-Encoding", "gzip")]))
        stored.bodyLength = 1_234
        return stored
    }

    @Test("stored metadata round-trips and the body follows the block")
    func roundTrip() throws {
        let stored = sample()
        var buffer = stored.encoded()
        buffer.writeString("BODY")
        let decoded = try StoredResponse(decoding: &buffer)
        #expect(decoded == stored)
        #expect(decoded.varyValues == ["gzip", nil])
        #expect(decoded.bodyLength == 1_234)
        #expect(buffer.readString(length: buffer.readableBytes) == "BODY")
    }

    @Test("version 2 keeps the request URL and the store time")
    func urlAndStoreTime() throws {
        var stored = sample()
        stored.url = "/live/seg 1.ts?q=ü"
        stored.storedAt = 1_780_000_000_123_456_789
        var buffer = stored.encoded()
        #expect(buffer.getInteger(at: 4, as: UInt16.self) == 2)
        let decoded = try StoredResponse(decoding: &buffer)
        #expect(decoded.url == "/live/seg 1.ts?q=ü")
        #expect(decoded.storedAt == 1_780_000_000_123_456_789)
        #expect(decoded == stored)
    }

    @Test("a version 1 block (no URL, no store time) is still read")
    func version1() throws {
        let stored = sample()
        var buffer = Self.version1Block(stored)
        buffer.writeString("BODY")
        let decoded = try StoredResponse(decoding: &buffer)
        #expect(decoded == stored)
        #expect(decoded.url == nil)
        #expect(decoded.storedAt == 0)
        #expect(buffer.readString(length: buffer.readableBytes) == "BODY")
    }

    /// The version 1 layout: the version 2 block without its URL and store time, with the
    /// version, length and CRC rewritten.
    static func version1Block(_ stored: StoredResponse) -> ByteBuffer {
        let v2 = Array(stored.encoded().readableBytesView)
        // URL absent: presence byte, UInt32 length, then the Int64 store time, then the CRC.
        var bytes = Array(v2[..<(v2.count - 4 - 8 - 4 - 1)])
        bytes[4] = 0
        bytes[5] = 1
        let total = UInt32(bytes.count + 4)
        bytes[6] = UInt8(total >> 24)
        bytes[7] = UInt8(total >> 16 & 0xFF)
        bytes[8] = UInt8(total >> 8 & 0xFF)
        bytes[9] = UInt8(total & 0xFF)
        var buffer = ByteBuffer(bytes: bytes)
        buffer.writeInteger(bytes.withUnsafeBytes { CRC32.checksum($0) })
        return buffer
    }

    @Test("a flipped byte anywhere in the block is detected")
    func corruption() {
        let encoded = sample().encoded()
        for offset in stride(from: 10, to: encoded.readableBytes, by: 7) {
            var copy = encoded
            copy.setInteger(copy.getInteger(at: offset, as: UInt8.self)! ^ 0x40, at: offset)
            #expect(throws: StoredResponse.MetadataError.self) { try StoredResponse(decoding: &copy) }
        }
    }

    @Test("a truncated block, foreign bytes or another version are refused")
    func refused() {
        let encoded = sample().encoded()
        var truncated = encoded.getSlice(at: 0, length: encoded.readableBytes - 1)!
        #expect(throws: StoredResponse.MetadataError(reason: "truncated")) { try StoredResponse(decoding: &truncated) }
        var foreign = ByteBuffer(string: "GIF89a and more bytes here")
        #expect(throws: StoredResponse.MetadataError(reason: "bad magic")) { try StoredResponse(decoding: &foreign) }
        var future = encoded
        future.setInteger(UInt16(99), at: 4)
        #expect(throws: StoredResponse.MetadataError(reason: "unknown format version")) { try StoredResponse(decoding: &future) }
    }
}
