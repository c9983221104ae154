import MiniCacheServer
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
