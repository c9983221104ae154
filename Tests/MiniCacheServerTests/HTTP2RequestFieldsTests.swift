import NIOCore
import NIOHPACK
import Testing

@testable import MiniCacheServer

/// A request's HTTP/2 fields written as the HTTP/1.1 head the parser reads, without a connection.
@Suite struct HTTP2RequestFieldsTests {
    static let request = [(":method", "GET"), (":scheme", "https"), (":authority", "example.com"), (":path", "/a?b=c")]

    /// The head written for `fields`; nil when they cannot be one.
    static func head(_ fields: [(String, String)], bodyLength: Int? = nil) -> String? {
        var out = ByteBuffer()
        guard HTTP2RequestFields.writeHead(HPACKHeaders(fields), bodyLength: bodyLength, into: &out) else { return nil }
        return String(buffer: out)
    }

    @Test("the pseudo-header fields make the request line and host; other fields follow in order (RFC 9113 §8.3.1)")
    func requestLine() {
        let head = Self.head(Self.request + [("host", "other.example"), ("accept-encoding", "gzip, deflate"), ("te", "trailers")])
        #expect(head == "GET /a?b=c HTTP/1.1\r\nhost: example.com\r\naccept-encoding: gzip, deflate\r\nte: trailers\r\n\r\n")
        #expect(Self.head([(":method", "GET"), (":scheme", "http"), (":path", "/"), ("host", "h")]) == "GET / HTTP/1.1\r\nhost: h\r\n\r\n")
    }

    @Test("with a body, content-length is the body's length, the client's is left out")
    func contentLength() {
        let head = Self.head(Self.request + [("content-length", "7")], bodyLength: 3)
        #expect(head == "GET /a?b=c HTTP/1.1\r\nhost: example.com\r\ncontent-length: 3\r\n\r\n")
        #expect(Self.head(Self.request + [("content-length", "7")])?.contains("content-length: 7") == true)
    }

    @Test(
        "connection-specific fields, uppercase names and bytes that would split the head make no head (RFC 9113 §8.2)",
        arguments: [
            [("connection", "close")], [("keep-alive", "1")], [("proxy-connection", "x")], [("transfer-encoding", "chunked")],
            [("upgrade", "h2c")], [("te", "gzip")], [("X-Upper", "1")], [("x-value", "a\r\nb: c")], [("x-nul", "a\u{0}")],
            [("x name", "1")], [(":authority", "a\nb")],
        ]
    )
    func refused(extra: [(String, String)]) {
        #expect(Self.head(Self.request + extra) == nil)
    }

    @Test("a request line needs :method and :path, without spaces")
    func requestLineRefused() {
        #expect(Self.head([(":method", "GET"), (":scheme", "https"), (":authority", "a")]) == nil)
        #expect(Self.head([(":path", "/"), (":scheme", "https"), (":authority", "a")]) == nil)
        #expect(Self.head([(":method", "GET"), (":scheme", "https"), (":path", "/a b")]) == nil)
    }

    @Test(
        "a request without :scheme, or with a pseudo-header field that is not a request's, repeated or after a regular field, is malformed (RFC 9113 §8.3)",
        arguments: [
            [(":method", "GET"), (":authority", "a"), (":path", "/")],
            [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":status", "200")],
            [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":protocol", "websocket")],
            [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":path", "/b")],
            [(":method", "GET"), (":scheme", "https"), (":scheme", "http"), (":path", "/")],
            [(":method", "GET"), (":scheme", "https"), ("accept", "*/*"), (":path", "/")],
        ]
    )
    func malformedPseudoHeaders(fields: [(String, String)]) {
        #expect(Self.head(fields) == nil)
    }

    @Test("a field list's size counts each name and value plus 32 bytes (RFC 9113 §6.5.2)")
    func listSize() {
        #expect(HTTP2RequestFields.listSize(HPACKHeaders([(":path", "/"), ("ab", "cde")])) == (5 + 1 + 32) + (2 + 3 + 32))
    }
}
