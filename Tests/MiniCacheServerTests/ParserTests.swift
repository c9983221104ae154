import NIOCore
import Testing

@testable import MiniCacheServer

struct ParserTests {
    let parser = HTTPRequestParser()

    func parse(_ text: String) -> HTTPParseResult {
        self.parser.parse(ByteBuffer(string: text))
    }

    func head(_ text: String) throws -> RequestHead {
        guard case .request(let head) = self.parse(text) else {
            Issue.record("expected a request head for \(text.debugDescription), got \(self.parse(text))")
            throw ParserTestFailure()
        }
        return head
    }

    func expectFailure(_ text: String, _ expected: HTTPStatus, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .failure(let error) = self.parse(text) else {
            Issue.record("expected \(expected.code) for \(text.debugDescription), got \(self.parse(text))", sourceLocation: sourceLocation)
            return
        }
        #expect(error.status == expected, sourceLocation: sourceLocation)
    }

    @Test func parsesARequestLineAndTheFieldsTheServerUses() throws {
        let text = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nRange: bytes=0-9\r\nIf-None-Match: \"abc\"\r\nX-Other: y\r\n\r\n"
        let head = try self.head(text)
        #expect(head.method == .get)
        #expect(head.minorVersion == 1)
        #expect(head.keepAlive)
        #expect(head.headLength == text.utf8.count)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[head.target.lowerBound..<head.target.upperBound], as: UTF8.self) == "/index.html?x=1")
        #expect(String(decoding: bytes[head.range!.lowerBound..<head.range!.upperBound], as: UTF8.self) == "bytes=0-9")
        #expect(String(decoding: bytes[head.ifNoneMatch!.lowerBound..<head.ifNoneMatch!.upperBound], as: UTF8.self) == "\"abc\"")
    }

    @Test func everyProperPrefixIsIncomplete() throws {
        let text = "GET /a HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        let bytes = Array(text.utf8)
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer()
            buffer.writeBytes(bytes[0..<cut])
            guard case .incomplete = self.parser.parse(buffer) else {
                Issue.record("prefix of \(cut) bytes was not incomplete: \(self.parser.parse(buffer))")
                return
            }
        }
        _ = try self.head(text)
    }

    @Test func pipelinedHeadsAreParsedOneAtATime() throws {
        let one = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        let head = try self.head(one + one + "GET /b HT")
        #expect(head.headLength == one.utf8.count)
    }

    @Test("RFC 9112 §2.2: one empty line before the request line is ignored")
    func leadingEmptyLine() throws {
        let head = try self.head("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(head.method == .get)
    }

    @Test("RFC 9112 §3.2: an HTTP/1.1 request without Host is 400")
    func missingHost() {
        self.expectFailure("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §3.2: a request with two Host fields is 400")
    func duplicateHost() {
        self.expectFailure("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §3.2: HTTP/1.0 may omit Host")
    func http10WithoutHost() throws {
        let head = try self.head("GET / HTTP/1.0\r\n\r\n")
        #expect(head.minorVersion == 0)
        #expect(!head.keepAlive)
    }

    @Test("RFC 9112 §9.3: persistence defaults and the Connection options")
    func persistence() throws {
        #expect(try !self.head("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keepAlive)
        #expect(try !self.head("GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, Close\r\n\r\n").keepAlive)
        #expect(try self.head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive)
        #expect(try self.head("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n").keepAlive)
    }

    @Test("RFC 9110 §9.1: GET and HEAD are served, other registered methods are 405, unknown 501, methods are case-sensitive")
    func methods() throws {
        #expect(try self.head("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n").method == .head)
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT"] {
            #expect(try self.head("\(method) / HTTP/1.1\r\nHost: h\r\n\r\n").method == .notAllowed)
        }
        #expect(try self.head("BREW / HTTP/1.1\r\nHost: h\r\n\r\n").method == .unknown)
        #expect(try self.head("get / HTTP/1.1\r\nHost: h\r\n\r\n").method == .unknown)
    }

    @Test("RFC 9112 §3.2.2: absolute-form targets are reduced to path and query")
    func absoluteForm() throws {
        let text = "GET http://example.com:80/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n"
        let head = try self.head(text)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[head.target.lowerBound..<head.target.upperBound], as: UTF8.self) == "/x?y")
        self.expectFailure("GET example.com/x HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §6.3: Content-Length together with Transfer-Encoding is 400 (request smuggling)")
    func contentLengthWithTransferEncoding() {
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §6.3: duplicate or non-numeric Content-Length is 400")
    func badContentLength() {
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is 400")
    func transferEncodingInHTTP10() {
        self.expectFailure("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §5.2: obsolete line folding is 400")
    func obsFold() {
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §5.1: whitespace between field name and colon is 400")
    func whitespaceBeforeColon() {
        self.expectFailure("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 0\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §2.2: bare CR and bare LF are 400")
    func bareLineEndings() {
        self.expectFailure("GET / HTTP/1.1\nHost: h\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\n\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\n\rX", .badRequest)
    }

    @Test("RFC 9110 §5.5: control characters in field values are 400")
    func controlCharacters() {
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7f}b\r\n\r\n", .badRequest)
        self.expectFailure("GET /a\u{1}b HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest)
    }

    @Test("RFC 9112 §3: malformed request lines are 400")
    func malformedRequestLine() {
        self.expectFailure("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest)
        self.expectFailure("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", .badRequest)
        self.expectFailure("GET / http/1.1\r\nHost: h\r\n\r\n", .badRequest)
        self.expectFailure("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest)
        self.expectFailure("\u{16}\u{3}\u{1}\u{2}\u{0}", .badRequest)
        self.expectFailure("GET / HTTP/1.1\r\n: empty\r\n\r\n", .badRequest)
    }

    @Test("RFC 9110 §15.6.6: versions other than 1.0 and 1.1 are 505")
    func versions() {
        self.expectFailure("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .versionNotSupported)
        self.expectFailure("GET / HTTP/1.2\r\nHost: h\r\n\r\n", .versionNotSupported)
    }

    @Test("RFC 9112 §3: a request line over the limit is 414")
    func longRequestLine() {
        self.expectFailure("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: h\r\n\r\n", .uriTooLong)
        // Also while the line is still arriving.
        self.expectFailure("GET /" + String(repeating: "a", count: 9000), .uriTooLong)
    }

    @Test("RFC 6585 §5: a header section over the limit is 431")
    func largeHeaders() {
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 20000) + "\r\n\r\n", .headersTooLarge)
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 20000), .headersTooLarge)
        let many = (0..<150).map { "X-\($0): v\r\n" }.joined()
        self.expectFailure("GET / HTTP/1.1\r\nHost: h\r\n" + many + "\r\n", .headersTooLarge)
    }

    @Test func contentLengthIsReadForDiscarding() throws {
        #expect(try self.head("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n").contentLength == 12)
    }
}

struct ParserTestFailure: Error {}
