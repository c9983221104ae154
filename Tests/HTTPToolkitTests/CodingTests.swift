import HTTPToolkit
import NIOCore
import Testing

struct CodingTests {
    @Test func hexRoundTrips() {
        let bytes: [UInt8] = [0x00, 0x0F, 0xA5, 0xFF, 0x10]
        #expect(Hex.string(bytes) == "000fa5ff10")
        // Bytes without contiguous storage take the generic path.
        #expect(Hex.string(UInt8(0x0E)...UInt8(0x11)) == "0e0f1011")
        #expect(Hex.string(bytes[1...3]) == "0fa5ff")
        #expect(Hex.bytes("000FA5ff10") == bytes)
        #expect(Hex.bytes("0") == nil)
        #expect(Hex.bytes("0g") == nil)
        #expect(Hex.string([]) == "")
        #expect(Hex.digits(bytes, count: 3) == Array("000".utf8))
        #expect(Hex.digits(bytes, count: 99) == Array("000fa5ff10".utf8))
        for c in UInt8.min...UInt8.max {
            let expected = UInt8(String(UnicodeScalar(c)), radix: 16)
            #expect(Hex.nibble(c) == expected)
        }
    }

    @Test("RFC 3986 §2.1: percent-encoding keeps unreserved characters only")
    func percentEncoding() {
        #expect(PercentCoding.encode("a-b_c.d~e") == "a-b_c.d~e")
        #expect(PercentCoding.encode("/live/a b?x=ü") == "%2Flive%2Fa%20b%3Fx%3D%C3%BC")
        #expect(PercentCoding.encode("/live/a b", keepingSlashes: true) == "/live/a%20b")
        for text in ["", "a b", "/x?y=z&w", "ü€😀", "%", "+"] {
            #expect(PercentCoding.decode(PercentCoding.encode(text)) == text)
        }
    }

    @Test func percentDecoding() {
        #expect(PercentCoding.decode("a%20b%2f") == "a b/")
        #expect(PercentCoding.decode("a+b") == "a+b")
        #expect(PercentCoding.decode("a+b", plusAsSpace: true) == "a b")
        #expect(PercentCoding.decode("%") == nil)
        #expect(PercentCoding.decode("%4") == nil)
        #expect(PercentCoding.decode("%zz") == nil)
        let items = PercentCoding.queryItems("url=%2Fa%20b&prefix=/x/&bad=%G1&flag")
        #expect(items.map(\.name) == ["url", "prefix", "bad", "flag"])
        #expect(items.map(\.value) == ["/a b", "/x/", nil, ""])
    }

    @Test func percentDecodingInPlace() {
        var bytes = Array("/a%20b%C3%BC".utf8)
        let count = bytes.withUnsafeMutableBytes { PercentCoding.decode(UnsafeRawBufferPointer($0), into: $0) }
        #expect(count.map { String(decoding: bytes[..<$0], as: UTF8.self) } == "/a bü")
    }

    struct Document: Codable, Equatable {
        var name: String
        var count: Int64
        var nested: [String: Int]
        var optional: String?
    }

    @Test func jsonRoundTripsWithSortedKeys() throws {
        let document = Document(name: "a \"quoted\"\n/slash", count: 1 << 40, nested: ["b": 2, "a": 1], optional: nil)
        let text = try JSON.string(document)
        #expect(text == #"{"count":1099511627776,"name":"a \"quoted\"\n/slash","nested":{"a":1,"b":2}}"# + "\n")
        #expect(try JSON.decode(Document.self, from: ByteBuffer(string: text)) == document)
        #expect(try JSON.string(document, style: .pretty).contains("\n  \"count\" : 1099511627776,\n"))
    }

    @Test func jsonErrorsNameTheField() {
        do {
            _ = try JSON.decode(Document.self, from: ByteBuffer(string: #"{"name":"x","count":"many","nested":{}}"#))
            Issue.record("decoded a string as a number")
        } catch {
            #expect(error.message.contains("count"), "\(error)")
        }
        do {
            _ = try JSON.decode(Document.self, from: ByteBuffer(string: #"{"name":"x","nested":{}}"#))
            Issue.record("decoded without a required field")
        } catch {
            #expect(error.message.contains("has no field 'count'"), "\(error)")
        }
    }
}
