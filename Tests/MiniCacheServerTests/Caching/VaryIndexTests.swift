import MiniCacheServer
import NIOCore
import Testing

struct VaryIndexTests {
    func digest(_ n: UInt8) -> CacheDigest { CacheDigest(bytes: Array(repeating: n, count: 32)) }

    @Test("a vary index round-trips and is told apart from a stored response by its magic")
    func roundTrip() throws {
        var index = VaryIndex(selector: VarySelector(names: ["Accept-Encoding", "Accept-Language"]))
        _ = index.add(digest(1))
        _ = index.add(digest(2))
        var buffer = index.encoded()
        #expect(VaryIndex.kind(of: buffer) == .varyIndex)
        #expect(VaryIndex.kind(of: CacheFixtures.stored().encoded()) == .response)
        #expect(VaryIndex.kind(of: ByteBuffer(string: "plain object")) == .unknown)
        let decoded = try VaryIndex(decoding: &buffer)
        #expect(decoded == index)
        #expect(buffer.readableBytes == 0)
    }

    @Test("adding past the limit drops the oldest variants for deletion; re-adding moves a variant to the end")
    func limit() {
        var index = VaryIndex(selector: VarySelector(names: ["x"]))
        for n: UInt8 in 1...3 { #expect(index.add(digest(n), limit: 3).isEmpty) }
        #expect(index.add(digest(1), limit: 3).isEmpty)
        #expect(index.add(digest(4), limit: 3) == [digest(2)])
        #expect(index.variants == [digest(3), digest(1), digest(4)])
        index.remove(digest(1))
        #expect(index.variants == [digest(3), digest(4)])
    }

    @Test("a corrupt vary index is refused")
    func corrupt() {
        var index = VaryIndex(selector: VarySelector(names: ["x"]))
        _ = index.add(digest(7))
        var buffer = index.encoded()
        buffer.setInteger(UInt8(0xFF), at: buffer.writerIndex - 10)
        #expect(throws: StoredResponse.MetadataError(reason: "checksum mismatch")) { try VaryIndex(decoding: &buffer) }
    }
}
