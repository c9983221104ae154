import HTTPToolkit
import NIOCore
import Synchronization

/// Frames response plans for HTTP/2: the same ``ResponsePlan``s an HTTP/1.1 connection writes,
/// as an HPACK header block and a body for `DATA` frames.
///
/// Blocks use the static table and literals only (``HPACKLiteralWriter``), so they need no
/// per-connection compression state. The common case — a whole local object, GET or HEAD — is
/// answered from the object's block, encoded once per connection from the fields prepared at
/// mount, after `:status` and a `date` field encoded once per second. Every other plan goes
/// through ``HTTP1ResponseWriter`` — the one place that knows how ranges, multipart bodies,
/// stored responses, errors and relayed heads are framed — whose head is read back into a block
/// without the HTTP/1.1 connection fields.
struct HTTP2ResponseWriter {
    /// What became of a plan. A block is valid until the next call.
    enum Outcome {
        /// A whole response: its header block and, unless it has none, its body.
        case complete(ByteBuffer, body: ByteBuffer?)
        /// The header block; the body streams from the volume.
        case stream(ByteBuffer, BodyStream)
        /// Nothing is written: the response is relayed from upstream.
        case relay(UpstreamRequest)
    }

    /// A relayed response's header block, and whether a body follows it.
    struct RelayBlock {
        var block: ByteBuffer
        var bodiless: Bool
    }

    /// Objects whose blocks are kept per connection; the cache starts again when full.
    static let blockCacheLimit = 256

    private var http1: HTTP1ResponseWriter
    private let dates: DateCache
    /// Blocks of whole local objects (after `:status` and `date`), by object.
    private var blockCache: [ObjectIdentifier: (object: PreparedObject, block: ByteBuffer)] = [:]
    /// The `date` field, and the second it was encoded for.
    private var dateField = ByteBuffer()
    private var dateSecond: Int64 = -1
    /// The block being written.
    private var block = ByteBuffer()

    init(dates: DateCache, serverName: String) {
        self.dates = dates
        self.http1 = HTTP1ResponseWriter(dates: dates, serverName: serverName)
        self.block.reserveCapacity(1024)
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
                self.writeObjectBlock(object)
                if isHead {
                    object.counters.hits.add(1, ordering: .relaxed)
                    self.http1.count(.ok, bytes: 0)
                    return .complete(self.block, body: nil)
                }
                if let body = object.body {
                    object.counters.recordWhole(bytes: body.readableBytes)
                    self.http1.count(.ok, bytes: body.readableBytes)
                    return .complete(self.block, body: body.readableBytes > 0 ? body : nil)
                }
                self.http1.count(.ok, bytes: Int(object.length))
                let stream = BodyStream(
                    pieces: [.file(offset: object.fileOffset, length: object.length)],
                    total: object.length,
                    counters: object.counters,
                    mount: mount
                )
                return .stream(self.block, stream)
            }
        }
        let framing = HTTP1ResponseWriter.Framing(isHead: isHead, minorVersion: 1, keepAlive: true)
        switch self.http1.write(plan, framing, mount: mount) {
        case .complete:
            let body = self.takeHTTP1Output()
            return .complete(self.block, body: body)
        case .stream(let stream, _):
            _ = self.takeHTTP1Output()
            return .stream(self.block, stream)
        case .relay(let request):
            return .relay(request)
        }
    }

    /// A short error response (`status` with a text body).
    mutating func writeError(_ status: HTTPStatus, isHead: Bool) -> (ByteBuffer, body: ByteBuffer?) {
        self.http1.writeError(status, keepAlive: true, isHead: isHead)
        let body = self.takeHTTP1Output()
        return (self.block, body)
    }

    /// The header block of a relayed response's head.
    mutating func writeRelayHead(_ head: RelayHead, isHead: Bool) -> RelayBlock {
        // HTTP/1.0 framing never chunks: the body is relayed as it comes, in DATA frames.
        let framing = self.http1.writeRelayHead(head, HTTP1ResponseWriter.Framing(isHead: isHead, minorVersion: 0, keepAlive: true))
        _ = self.takeHTTP1Output()
        return RelayBlock(block: self.block, bodiless: framing.bodiless)
    }

    /// The header block of an interim (1xx) response relayed before the final one (RFC 9113 §8.1).
    mutating func writeInterim(_ head: RelayHead) -> ByteBuffer {
        self.http1.writeInterim(head)
        _ = self.takeHTTP1Output()
        return self.block
    }

    /// The header block of `100 Continue` (RFC 9110 §10.1.1).
    mutating func writeContinue() -> ByteBuffer {
        self.block.clear()
        HPACKLiteralWriter.writeStatus(100, into: &self.block)
        return self.block
    }

    // MARK: - Blocks

    /// `:status`, `date` and the object's prepared fields, into `block`.
    private mutating func writeObjectBlock(_ object: PreparedObject) {
        self.block.clear()
        HPACKLiteralWriter.writeStatus(200, into: &self.block)
        self.writeDate()
        let id = ObjectIdentifier(object)
        if let cached = self.blockCache[id], cached.object === object {
            self.block.writeImmutableBuffer(cached.block)
            return
        }
        var prepared = object.head
        var fields = ByteBuffer()
        HPACKLiteralWriter.writeFields(fromHTTP1: &prepared, into: &fields)
        if self.blockCache.count >= Self.blockCacheLimit { self.blockCache.removeAll(keepingCapacity: true) }
        self.blockCache[id] = (object, fields)
        self.block.writeImmutableBuffer(fields)
    }

    private mutating func writeDate() {
        if self.dateSecond != self.dates.second {
            self.dateSecond = self.dates.second
            self.dateField.clear()
            HPACKLiteralWriter.writeField(name: "date".utf8, value: self.dates.date.utf8, into: &self.dateField)
        }
        self.block.writeImmutableBuffer(self.dateField)
    }

    /// The HTTP/1.1 writer's output as a block (into `block`) and a body.
    private mutating func takeHTTP1Output() -> ByteBuffer? {
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
        self.block.clear()
        HPACKLiteralWriter.writeHead(fromHTTP1: &bytes, into: &self.block)
        return bytes.readableBytes > 0 ? bytes : nil
    }
}
