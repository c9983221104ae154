import HTTPToolkit
import NIOCore
import NIOHPACK
import Synchronization

/// Frames response plans for HTTP/2: the same ``ResponsePlan``s an HTTP/1.1 connection writes,
/// as a `HEADERS` field list and a body for `DATA` frames.
///
/// The common case — a whole local object, GET or HEAD — is answered from the object's field
/// list, prepared once per connection from the fields prepared at mount (HPACK's dynamic table
/// then shrinks them to a few bytes per response), with `:status` and `date` from the per-loop
/// ``DateCache``. Every other plan goes through ``HTTP1ResponseWriter`` — the one place that knows
/// how ranges, multipart bodies, stored responses, errors and relayed heads are framed — whose
/// head is read back into fields without the HTTP/1.1 connection fields.
struct HTTP2ResponseWriter {
    /// What became of a plan.
    enum Outcome {
        /// A whole response: its fields and, unless it has none, its body.
        case complete(HPACKHeaders, body: ByteBuffer?)
        /// The fields; the body streams from the volume.
        case stream(HPACKHeaders, BodyStream)
        /// Nothing is written: the response is relayed from upstream.
        case relay(UpstreamRequest)
    }

    /// Fields of a relayed response, and whether a body follows them.
    struct RelayFields {
        var fields: HPACKHeaders
        var bodiless: Bool
    }

    /// Objects whose field lists are kept per connection; the cache starts again when full.
    static let fieldCacheLimit = 256

    private var http1: HTTP1ResponseWriter
    private let dates: DateCache
    /// Field lists of whole local objects (after `:status` and `date`), by object.
    private var fieldCache: [ObjectIdentifier: (object: PreparedObject, fields: HPACKHeaders)] = [:]

    init(dates: DateCache, serverName: String) {
        self.dates = dates
        self.http1 = HTTP1ResponseWriter(dates: dates, serverName: serverName)
    }

    /// Adds the counts since the last call to `stats`.
    mutating func record(into stats: ServerStats) {
        self.http1.record(into: stats)
    }

    /// Counts relayed body bytes.
    mutating func countBody(_ bytes: Int) {
        self.http1.count(nil, bytes: bytes)
    }

    /// Frames `plan` for a GET or HEAD (`isHead`) or another method; `mount` holds the body of a
    /// streamed one.
    mutating func write(_ plan: ResponsePlan, isHead: Bool, mount: Mount) -> Outcome {
        if case .representation(let representation, .whole) = plan, case .local = representation.source {
            let object = representation.object
            if isHead || object.body != nil || object.length > 0 {
                let fields = self.fields(of: object)
                if isHead {
                    object.counters.hits.add(1, ordering: .relaxed)
                    self.http1.count(.ok, bytes: 0)
                    return .complete(fields, body: nil)
                }
                if let body = object.body {
                    object.counters.recordWhole(bytes: body.readableBytes)
                    self.http1.count(.ok, bytes: body.readableBytes)
                    return .complete(fields, body: body.readableBytes > 0 ? body : nil)
                }
                self.http1.count(.ok, bytes: Int(object.length))
                let stream = BodyStream(
                    pieces: [.file(offset: object.fileOffset, length: object.length)],
                    total: object.length,
                    counters: object.counters,
                    mount: mount
                )
                return .stream(fields, stream)
            }
        }
        let framing = HTTP1ResponseWriter.Framing(isHead: isHead, minorVersion: 1, keepAlive: true)
        switch self.http1.write(plan, framing, mount: mount) {
        case .complete:
            let (fields, body) = self.takeHTTP1Output()
            return .complete(fields, body: body)
        case .stream(let stream, _):
            return .stream(self.takeHTTP1Output().fields, stream)
        case .relay(let request):
            return .relay(request)
        }
    }

    /// A short error response (`status` with a text body).
    mutating func writeError(_ status: HTTPStatus, isHead: Bool) -> (HPACKHeaders, ByteBuffer?) {
        self.http1.writeError(status, keepAlive: true, isHead: isHead)
        return self.takeHTTP1Output()
    }

    /// The fields of a relayed response's head.
    mutating func writeRelayHead(_ head: RelayHead, isHead: Bool) -> RelayFields {
        // HTTP/1.0 framing never chunks: the body is relayed as it comes, in DATA frames.
        let framing = self.http1.writeRelayHead(head, HTTP1ResponseWriter.Framing(isHead: isHead, minorVersion: 0, keepAlive: true))
        return RelayFields(fields: self.takeHTTP1Output().fields, bodiless: framing.bodiless)
    }

    /// The fields of an interim (1xx) response relayed before the final one (RFC 9113 §8.1).
    mutating func writeInterim(_ head: RelayHead) -> HPACKHeaders {
        self.http1.writeInterim(head)
        return self.takeHTTP1Output().fields
    }

    // MARK: - Fields

    /// `:status`, `date` and the object's prepared fields.
    private mutating func fields(of object: PreparedObject) -> HPACKHeaders {
        let id = ObjectIdentifier(object)
        var fields: HPACKHeaders
        if let cached = self.fieldCache[id], cached.object === object {
            fields = cached.fields
        } else {
            var prepared = object.head
            fields = HPACKHeaders()
            fields.add(name: ":status", value: "200")
            fields.add(name: "date", value: "")
            Self.addFields(from: &prepared, to: &fields)
            if self.fieldCache.count >= Self.fieldCacheLimit { self.fieldCache.removeAll(keepingCapacity: true) }
            self.fieldCache[id] = (object, fields)
        }
        fields.replaceOrAdd(name: "date", value: self.dates.date)
        return fields
    }

    /// The HTTP/1.1 writer's output as fields and body.
    private mutating func takeHTTP1Output() -> (fields: HPACKHeaders, body: ByteBuffer?) {
        var parts: [ByteBuffer] = []
        if let output = self.http1.takeOutput() {
            parts = output.queued
            if output.last.readableBytes > 0 { parts.append(output.last) }
        }
        var bytes: ByteBuffer
        if parts.count == 1 {
            bytes = parts[0]
        } else {
            bytes = ByteBuffer()
            for var part in parts { bytes.writeBuffer(&part) }
        }
        var fields = HPACKHeaders()
        // "HTTP/1.1 NNN reason\r\n"
        let status = bytes.getString(at: bytes.readerIndex + 9, length: 3) ?? "500"
        fields.add(name: ":status", value: status)
        if let lineEnd = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            bytes.moveReaderIndex(to: lineEnd + 1)
        }
        Self.addFields(from: &bytes, to: &fields)
        return (fields, bytes.readableBytes > 0 ? bytes : nil)
    }

    /// Reads HTTP/1.1 field lines up to and including the empty line into `fields`, names
    /// lowercased, without the fields HTTP/2 forbids (RFC 9113 §8.2.2).
    static func addFields(from bytes: inout ByteBuffer, to fields: inout HPACKHeaders) {
        while bytes.readableBytes >= 2 {
            let view = bytes.readableBytesView
            guard let lineEnd = view.firstIndex(of: UInt8(ascii: "\n")) else { return }
            let line = view[view.startIndex..<lineEnd]
            bytes.moveReaderIndex(to: lineEnd + 1)
            let content = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            if content.isEmpty { return }
            guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: content[content.startIndex..<colon], as: UTF8.self).lowercased()
            var valueStart = colon + 1
            while valueStart < content.endIndex, content[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            switch name {
            case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
                continue
            default:
                fields.add(name: name, value: String(decoding: content[valueStart...], as: UTF8.self))
            }
        }
    }
}
