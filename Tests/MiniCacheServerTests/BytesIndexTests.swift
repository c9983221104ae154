import Testing

@testable import MiniCacheServer

struct BytesIndexTests {
    @Test func bytesIndexFindsKeysWithoutAllocating() {
        let index = BytesIndex([(Array("a".utf8), 0), (Array("bb".utf8), 1), (Array("a".utf8), 2)])
        #expect(index.lookup(Array("a".utf8)) == 0)
        #expect(index.lookup(Array("bb".utf8)) == 1)
        #expect(index.lookup(Array("c".utf8)) == nil)
        #expect(BytesIndex().lookup(Array("a".utf8)) == nil)
    }
}
