import Foundation
import HTTPToolkit
import NIOCore
import NIOHTTP1
import Prometheus
import Synchronization
import Testing

@testable import MiniCacheServer

/// Plans written as HTTP/1.1 bytes, without a channel.
@Suite struct HTTP1ResponseWriterTests {
    static let mount = VolumeResponderTests.mount
    static let get = HTTP1ResponseWriter.Framing(isHead: false, minorVersion: 1, keepAlive: true)
    static let head = HTTP1ResponseWriter.Framing(isHead: true, minorVersion: 1, keepAlive: true)

    static func object(_ name: String) -> PreparedObject {
        mount.objects[mount.byName.lookup(Array(name.utf8))!]
    }

    /// Writes `plan` and returns the outcome and the output, one element per buffer.
    static func write(_ plan: ResponsePlan, _ framing: HTTP1ResponseWriter.Framing = get) -> (HTTP1ResponseWriter.Outcome, [String]) {
        var writer = HTTP1ResponseWriter(dates: DateCache(), serverName: "minicache")
        let outcome = writer.write(plan, framing, mount: mount)
        var parts: [String] = []
        parts = Self.drain(&writer).map { String(decoding: $0.readableBytesView, as: UTF8.self) }
        return (outcome, parts)
    }

    /// The writer's output, in order, and a new batch.
    static func drain(_ writer: inout HTTP1ResponseWriter) -> [ByteBuffer] {
        guard let output = writer.takeOutput() else { return [] }
        return output.queued + (output.last.readableBytes > 0 ? [output.last] : [])
    }

    /// The output without `Date` lines, as one string.
    static func text(_ parts: [String]) -> String {
        parts.joined().split(separator: "\r\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
    }

    static func keepAlive(_ outcome: HTTP1ResponseWriter.Outcome) -> Bool? {
        if case .complete(let keepAlive) = outcome { return keepAlive }
        return nil
    }

    @Test("a small object: status, Date and the prepared response in one buffer")
    func smallWhole() {
        let object = Self.object("index.html")
        let (outcome, parts) = Self.write(.representation(Representation(object), .whole))
        #expect(Self.keepAlive(outcome) == true)
        #expect(parts.count == 1)
        #expect(parts[0].hasPrefix("HTTP/1.1 200 OK\r\nDate: "))
        #expect(parts[0].hasSuffix(String(decoding: object.response.readableBytesView, as: UTF8.self)))
    }

    @Test("HEAD: the prepared head without the body; HTTP/1.0 keep-alive says so; a closing response says close")
    func headAndConnection() {
        let object = Self.object("index.html")
        let (_, head) = Self.write(.representation(Representation(object), .whole), Self.head)
        #expect(head.joined().hasSuffix(String(decoding: object.head.readableBytesView, as: UTF8.self)))
        let (_, old) = Self.write(.representation(Representation(object), .whole), .init(isHead: false, minorVersion: 0, keepAlive: true))
        #expect(old.joined().contains("\r\nConnection: keep-alive\r\n"))
        let (outcome, closing) = Self.write(.representation(Representation(object), .whole), .init(isHead: false, minorVersion: 1, keepAlive: false))
        #expect(closing.joined().contains("\r\nConnection: close\r\n"))
        #expect(Self.keepAlive(outcome) == false)
    }

    @Test("an object not in memory: the head is written and the body returned as a stream of the volume file")
    func largeStreams() {
        let object = Self.object("large.bin")
        let (outcome, parts) = Self.write(.representation(Representation(object), .whole))
        guard case .stream(let stream, true) = outcome else {
            Issue.record("not a stream: \(outcome)")
            return
        }
        #expect(stream.total == object.length)
        #expect(Self.text(parts).hasSuffix("Content-Length: \(object.length)\r\n\r\n"))
    }

    @Test("RFC 9110 §15.4.5: 304 with the object's validators and no body")
    func notModified() {
        let object = Self.object("small.bin")
        let (_, parts) = Self.write(.representation(Representation(object), .notModified))
        #expect(Self.text(parts) == "HTTP/1.1 304 Not Modified\r\n" + object.commonFields + "\r\n")
    }

    @Test("RFC 9110 §14.4: 206 with Content-Range and the range's bytes; 416 with the length")
    func ranges() {
        let object = Self.object("small.bin")
        let body = Array(object.body!.readableBytesView)
        let (_, parts) = Self.write(.representation(Representation(object), .range(10..<20)))
        let text = Self.text(parts)
        #expect(text.hasPrefix("HTTP/1.1 206 Partial Content\r\n"))
        #expect(text.contains("Content-Range: bytes 10-19/1024\r\nContent-Length: 10\r\n\r\n"))
        var writer = HTTP1ResponseWriter(dates: DateCache(), serverName: "minicache")
        _ = writer.write(.representation(Representation(object), .range(10..<20)), Self.get, mount: Self.mount)
        var bytes: [UInt8] = []
        for part in Self.drain(&writer) { bytes += part.readableBytesView }
        #expect(Array(bytes.suffix(11)) == [10] + Array(body[10..<20]))
        let (_, refused) = Self.write(.representation(Representation(object), .unsatisfiable))
        let answer = Self.text(refused)
        #expect(answer.hasPrefix("HTTP/1.1 416 Range Not Satisfiable\r\n"))
        #expect(answer.contains("Content-Range: bytes */1024\r\n"))
        #expect(answer.components(separatedBy: "Server: ").count == 2)
    }

    @Test("RFC 9110 §14.6: multipart/byteranges whose Content-Length is the body's")
    func multipart() {
        let object = Self.object("small.bin")
        let representation = Representation(object)
        let (_, parts) = Self.write(.representation(representation, .multipart([0..<4, 100..<104])))
        let whole = parts.joined()
        let headEnd = whole.range(of: "\r\n\r\n")!
        let length = Int(whole[..<headEnd.lowerBound].components(separatedBy: "Content-Length: ")[1])!
        #expect(whole.utf8.count - whole.utf8.distance(from: whole.startIndex, to: headEnd.upperBound) == length)
        #expect(whole.contains("Content-Type: multipart/byteranges; boundary=\(representation.boundary)\r\n"))
        #expect(whole.contains("Content-Range: bytes 100-103/1024\r\n"))
        #expect(whole.hasSuffix("\r\n--\(representation.boundary)--\r\n"))
    }

    @Test("RFC 9111 §4: a stored response is sent with its own status line, Age and X-Cache, and counted as a hit")
    func storedHit() {
        let object = Self.object("small.bin")
        let stored = CacheFixtures.stored(203, [("Cache-Control", "max-age=60"), ("X-Origin", "yes")])
        let hit = HitHead(stored, bodyLength: object.length, serverName: "minicache")
        var writer = HTTP1ResponseWriter(dates: DateCache(), serverName: "minicache")
        _ = writer.write(.representation(Representation(object, .stored(hit, age: 7, label: .hit)), .whole), Self.get, mount: Self.mount)
        var text = ""
        for part in Self.drain(&writer) { text += String(decoding: part.readableBytesView, as: UTF8.self) }
        #expect(text.hasPrefix("HTTP/1.1 203 Non-Authoritative Information\r\n"))
        #expect(text.contains("\r\nAge: 7\r\nX-Cache: HIT\r\n"))
        #expect(text.contains("X-Origin: yes\r\n"))
        #expect(text.contains("Content-Length: 1024\r\n\r\n"))
        let stats = ServerStats(startTime: 0, factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
        writer.record(into: stats)
        #expect(stats.cacheHits.load(ordering: .relaxed) == 1)
        #expect(stats.cacheBytesServed.load(ordering: .relaxed) == 1024)
        #expect(stats.bytesSent.load(ordering: .relaxed) == 1024)
    }

    @Test("errors: a text body (none for HEAD), Allow on 405, close when asked")
    func errors() {
        let (outcome, parts) = Self.write(.error(.methodNotAllowed, allow: "GET, HEAD"))
        #expect(Self.keepAlive(outcome) == true)
        #expect(Self.text(parts) == "HTTP/1.1 405 Method Not Allowed\r\nServer: minicache\r\nAllow: GET, HEAD\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\n405 Method Not Allowed\n")
        let (_, head) = Self.write(.error(.notFound), Self.head)
        #expect(Self.text(head).hasSuffix("Content-Length: 14\r\n\r\n"))
        let (closed, closing) = Self.write(.error(.badRequest, closing: true))
        #expect(Self.keepAlive(closed) == false)
        #expect(Self.text(closing).hasPrefix("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"))
    }

    @Test("a part larger than the copy limit goes out as its own buffer, after the bytes before it")
    func largePartsQueued() {
        let object = Self.object("page.html.gz")
        var writer = HTTP1ResponseWriter(dates: DateCache(), serverName: "minicache")
        _ = writer.write(.representation(Representation(object), .whole), Self.get, mount: Self.mount)
        let relay = RelayHead(status: .ok, fields: ["Content-Type": "a/b"], contentLength: nil, label: nil)
        let framing = writer.writeRelayHead(relay, Self.get)
        var big = ByteBuffer()
        big.writeRepeatingByte(120, count: HTTP1ResponseWriter.copyLimit + 1)
        writer.writeRelayBody(big, chunked: framing.chunked)
        writer.writeRelayEnd(chunked: framing.chunked)
        var parts: [ByteBuffer] = []
        parts = Self.drain(&writer)
        #expect(parts.count == 3)
        #expect(parts[1] == big)
        #expect(String(decoding: parts[0].readableBytesView, as: UTF8.self).hasSuffix("Transfer-Encoding: chunked\r\n\r\n2001\r\n"))
        #expect(String(decoding: parts[2].readableBytesView, as: UTF8.self) == "\r\n0\r\n\r\n")
    }

    @Test("RFC 9112 §6.3: a relayed body without a length is chunked for HTTP/1.1 and ends by closing for HTTP/1.0")
    func relayFraming() {
        var writer = HTTP1ResponseWriter(dates: DateCache(), serverName: "minicache")
        let unknown = RelayHead(status: .ok, fields: [:], contentLength: nil, label: .miss)
        #expect(writer.writeRelayHead(unknown, Self.get).chunked)
        let old = writer.writeRelayHead(unknown, .init(isHead: false, minorVersion: 0, keepAlive: true))
        #expect(!old.chunked && !old.keepAlive)
        let head = writer.writeRelayHead(unknown, Self.head)
        #expect(head.bodiless && head.keepAlive && !head.chunked)
        let notModified = writer.writeRelayHead(RelayHead(status: .notModified, fields: [:], contentLength: 5, label: .miss), Self.get)
        #expect(notModified.bodiless)
        var text = ""
        for part in Self.drain(&writer) { text += String(decoding: part.readableBytesView, as: UTF8.self) }
        #expect(text.contains("Via: 1.1 minicache\r\nX-Cache: MISS\r\nTransfer-Encoding: chunked\r\n\r\n"))
        #expect(text.contains("HTTP/1.1 304 Not Modified\r\n"))
        #expect(!text.contains("Content-Length: 5"))
    }

    @Test("a relayed head keeps the origin's Date and Server")
    func relayKeepsOriginFields() {
        var writer = HTTP1ResponseWriter(dates: DateCache(), serverName: "minicache")
        _ = writer.writeRelayHead(
            RelayHead(status: HTTPStatus(code: 299), fields: ["Date": "x", "Server": "origin"], contentLength: 0, label: .pass), Self.get)
        var text = ""
        for part in Self.drain(&writer) { text += String(decoding: part.readableBytesView, as: UTF8.self) }
        #expect(text.hasPrefix("HTTP/1.1 299 \r\nDate: x\r\nServer: origin\r\nVia: 1.1 minicache\r\nX-Cache: PASS\r\nContent-Length: 0\r\n\r\n"))
    }
}
