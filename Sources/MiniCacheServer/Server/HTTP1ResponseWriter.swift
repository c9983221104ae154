import HTTPToolkit
import NIOCore
import NIOHTTP1
import Synchronization

/// Writes response plans as HTTP/1.1 bytes: the one place that frames heads, whole bodies,
/// single ranges and `multipart/byteranges` bodies of local objects and stored responses, error
/// answers, and the heads and bodies of relayed responses.
///
/// Responses are assembled into one buffer per read batch from ready-made parts: the status and
/// `Date` lines from the per-loop ``DateCache`` and the object's prepared fields and body. Parts
/// larger than ``copyLimit`` are queued as their own buffers, to go out in the same `writev`.
/// A body that is not in memory is returned as a ``BodyStream`` for the connection to stream.
///
/// It also counts what it writes (responses by status class, body bytes, cache hits) for the
/// server's statistics, added once per batch.
struct HTTP1ResponseWriter {
    /// What the framing of a response depends on: the request's method, version and connection.
    struct Framing {
        var isHead: Bool
        var minorVersion: UInt8
        var keepAlive: Bool
    }

    /// What became of a plan.
    enum Outcome {
        /// Written whole.
        case complete(keepAlive: Bool)
        /// The head is written; the body is to be streamed from the volume.
        case stream(BodyStream, keepAlive: Bool)
        /// Nothing is written: the response is to be relayed from upstream.
        case relay(UpstreamRequest)
    }

    /// How a relayed body is framed, decided with its head.
    struct RelayFraming {
        /// False when the body's end can only be told by closing (HTTP/1.0 without a length).
        var keepAlive: Bool
        var chunked: Bool
        /// No body follows the head (HEAD, 204, 304).
        var bodiless: Bool
    }

    /// Counts for the server's statistics since they were last recorded.
    struct Counts {
        var byClass = (0, 0, 0, 0, 0)
        /// Body bytes.
        var bytes = 0
        /// Stored responses served fresh (`X-Cache: HIT`), and body bytes of stored responses.
        var cacheHits = 0
        var cacheBytes = 0

        mutating func count(_ status: HTTPStatus, bytes: Int) {
            switch status.classIndex {
            case 2: self.byClass.1 += 1
            case 3: self.byClass.2 += 1
            case 4: self.byClass.3 += 1
            case 5: self.byClass.4 += 1
            default: self.byClass.0 += 1
            }
            self.bytes += bytes
        }
    }

    /// Parts up to this size are copied into the batch buffer; larger ones are queued as they are.
    static let copyLimit = 8192
    static let bufferCapacity = 16384

    private let dates: DateCache
    private let serverName: String
    /// The batch buffer.
    private var out: ByteBuffer
    /// Buffers that go out before `out`: large parts, and the batch bytes that preceded them.
    private var queued: [ByteBuffer] = []
    /// Buffers of earlier batches, for the next ones.
    private var spare: ByteBuffer?
    private var spareQueue: [ByteBuffer] = []
    private let allocator: ByteBufferAllocator
    private var counts = Counts()

    init(dates: DateCache, serverName: String, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.dates = dates
        self.serverName = serverName
        self.allocator = allocator
        self.out = allocator.buffer(capacity: Self.bufferCapacity)
    }

    // MARK: - Output

    /// Whether bytes wait to be handed to the channel.
    var hasOutput: Bool { self.out.readableBytes > 0 || !self.queued.isEmpty }

    /// The output of a batch, in order: large parts and the batch bytes before them, then the
    /// batch buffer.
    struct Output {
        var queued: [ByteBuffer]
        var last: ByteBuffer
    }

    /// Moves the output written so far out of the writer; what is written meanwhile (writing to
    /// a channel can call back into the connection) starts the next batch, in a spare buffer.
    mutating func takeOutput() -> Output? {
        guard self.hasOutput else { return nil }
        var next: ByteBuffer
        if let spare = self.spare {
            self.spare = nil
            next = spare
        } else {
            next = self.allocator.buffer(capacity: Self.bufferCapacity)
        }
        swap(&next, &self.out)
        var queued = self.spareQueue
        self.spareQueue = []
        swap(&queued, &self.queued)
        return Output(queued: queued, last: next)
    }

    /// Keeps the buffers of an output that went to the channel for the next batches: their
    /// storage is reused when the flush wrote them out (the usual case), else the channel keeps
    /// it and a new one is allocated.
    mutating func recycle(_ output: inout Output) {
        // Shared with `output` until the caller lets go of it, before the next batch.
        if self.spare == nil {
            output.last.clear()
            self.spare = output.last
        }
        if self.spareQueue.capacity == 0 {
            output.queued.removeAll(keepingCapacity: true)
            self.spareQueue = output.queued
        }
    }

    /// Adds the counts since the last call to `stats`.
    mutating func record(into stats: ServerStats) {
        stats.record(byClass: &self.counts.byClass, bytes: self.counts.bytes)
        self.counts.bytes = 0
        if self.counts.cacheHits > 0 || self.counts.cacheBytes > 0 {
            stats.cacheHit(count: self.counts.cacheHits)
            stats.cacheBytesSent(self.counts.cacheBytes)
            self.counts.cacheHits = 0
            self.counts.cacheBytes = 0
        }
    }

    /// Counts a response written elsewhere (HTTP/2's fast path and relayed bodies): its status,
    /// when given, and its body bytes.
    mutating func count(_ status: HTTPStatus?, bytes: Int) {
        if let status {
            self.counts.count(status, bytes: bytes)
        } else {
            self.counts.bytes += bytes
        }
    }

    /// Appends a ready-made part: copied when small, queued as it is when large.
    @inline(__always)
    private mutating func emit(_ part: ByteBuffer) {
        if part.readableBytes <= Self.copyLimit {
            self.out.writeImmutableBuffer(part)
        } else {
            if self.out.readableBytes > 0 {
                self.queued.append(self.out)
                self.out.clear()
            }
            self.queued.append(part)
        }
    }

    // MARK: - Plans

    /// Writes `plan` for a request framed as `framing`; `mount` holds the body of a streamed one.
    mutating func write(_ plan: ResponsePlan, _ framing: Framing, mount: Mount) -> Outcome {
        switch plan {
        case .representation(let representation, let selection):
            return self.write(representation, selection, framing, mount: mount)
        case .error(let status, let closing, let allow):
            let keepAlive = framing.keepAlive && !closing
            self.writeError(status, keepAlive: keepAlive, minorVersion: framing.minorVersion, isHead: framing.isHead, allow: allow)
            return .complete(keepAlive: keepAlive)
        case .redirect(let object):
            self.writeStatus(.temporaryRedirect, keepAlive: framing.keepAlive, minorVersion: framing.minorVersion)
            self.emit(object.response)
            object.counters.recordWhole(bytes: 0)
            self.counts.count(.temporaryRedirect, bytes: 0)
            return .complete(keepAlive: framing.keepAlive)
        case .relay(let upstream):
            return .relay(upstream)
        }
    }

    private mutating func write(_ representation: Representation, _ selection: Representation.Selection, _ framing: Framing, mount: Mount) -> Outcome {
        let object = representation.object
        let keepAlive = framing.keepAlive
        if case .stored(_, _, .hit) = representation.source { self.counts.cacheHits += 1 }
        switch (selection, representation.source) {
        case (.whole, .local):
            // The fast path: status and Date, connection field, prepared fields and body.
            self.out.writeImmutableBuffer(self.dates.okPrefix)
            self.writeConnectionField(keepAlive: keepAlive, minorVersion: framing.minorVersion)
            if framing.isHead {
                self.emit(object.head)
                object.counters.hits.add(1, ordering: .relaxed)
                self.counts.count(.ok, bytes: 0)
                return .complete(keepAlive: keepAlive)
            }
            if let body = object.body {
                self.emit(object.response)
                object.counters.recordWhole(bytes: body.readableBytes)
                self.counts.count(.ok, bytes: body.readableBytes)
                return .complete(keepAlive: keepAlive)
            }
            self.emit(object.head)
            return self.sendBody(object, [.file(offset: object.fileOffset, length: object.length)], status: .ok, keepAlive: keepAlive, mount: mount)
        case (.whole, .stored(let hit, let age, let label)):
            self.writeStatusLine(hit.statusLine, hasDate: hit.hasDate, keepAlive: keepAlive, minorVersion: framing.minorVersion)
            self.out.writeStaticString("Age: ")
            self.out.writeString(String(age))
            self.out.writeStaticString("\r\nX-Cache: ")
            self.out.writeStaticString(label.text)
            self.out.writeStaticString("\r\n")
            self.emit(hit.fields)
            let withBody = !framing.isHead && hit.status.hasContent
            if withBody { self.counts.cacheBytes += Int(object.length) }
            if withBody, let body = object.body {
                // The cache's fast path: the body right after the head, nothing to allocate.
                self.emit(body)
                object.counters.recordWhole(bytes: body.readableBytes)
                self.counts.count(hit.status, bytes: body.readableBytes)
                return .complete(keepAlive: keepAlive)
            }
            return self.sendBody(object, withBody ? [Self.piece(object, 0..<object.length)] : [], status: hit.status, keepAlive: keepAlive, mount: mount)
        case (.notModified, .local):
            self.writeStatus(.notModified, keepAlive: keepAlive, minorVersion: framing.minorVersion)
            self.out.writeImmutableBuffer(object.notModified)
            object.counters.hits.add(1, ordering: .relaxed)
            self.counts.count(.notModified, bytes: 0)
            return .complete(keepAlive: keepAlive)
        case (.notModified, .stored(let hit, let age, _)):
            self.writeStatusLine(nil, status: .notModified, hasDate: hit.hasDate, keepAlive: keepAlive, minorVersion: framing.minorVersion)
            self.out.writeString("Age: \(age)\r\n")
            self.out.writeImmutableBuffer(hit.notModified)
            object.counters.hits.add(1, ordering: .relaxed)
            self.counts.count(.notModified, bytes: 0)
            return .complete(keepAlive: keepAlive)
        case (.preconditionFailed, _):
            self.writeError(.preconditionFailed, keepAlive: keepAlive, minorVersion: framing.minorVersion, isHead: framing.isHead)
            return .complete(keepAlive: keepAlive)
        case (.unsatisfiable, _):
            self.writeError(
                .rangeNotSatisfiable, keepAlive: keepAlive, minorVersion: framing.minorVersion, isHead: framing.isHead,
                fields: Self.partialFields(representation, withLabel: false) + "Content-Range: bytes */\(representation.extent.completeLength)\r\n")
            return .complete(keepAlive: keepAlive)
        case (.range(let range), _):
            let extent = representation.extent
            self.writePartialStatus(representation, keepAlive: keepAlive, minorVersion: framing.minorVersion)
            self.out.writeString(
                Self.partialFields(representation, withLabel: true) + (representation.contentType.map { "Content-Type: \($0)\r\n" } ?? "")
                    + "Content-Range: bytes \(range.lowerBound)-\(range.upperBound - 1)/\(extent.completeLength)\r\nContent-Length: \(range.count)\r\n\r\n")
            if case .stored = representation.source { self.counts.cacheBytes += range.count }
            let body = (range.lowerBound - extent.start)..<(range.upperBound - extent.start)
            return self.sendBody(object, framing.isHead ? [] : [Self.piece(object, body)], status: .partialContent, keepAlive: keepAlive, mount: mount)
        case (.multipart(let ranges), _):
            let boundary = representation.boundary
            let (pieces, length) = Self.multipartBody(
                object, ranges, extent: representation.extent, contentType: representation.contentType, boundary: boundary)
            self.writePartialStatus(representation, keepAlive: keepAlive, minorVersion: framing.minorVersion)
            self.out.writeString(
                Self.partialFields(representation, withLabel: true) + "Content-Type: multipart/byteranges; boundary=\(boundary)\r\n"
                    + "Content-Length: \(length)\r\n\r\n")
            if case .stored = representation.source { self.counts.cacheBytes += Int(length) }
            return self.sendBody(object, framing.isHead ? [] : pieces, status: .partialContent, keepAlive: keepAlive, mount: mount)
        }
    }

    /// The fields of a `206` or `416` before its content framing: the prepared common fields of a
    /// local object; `Age`, the label and the stored fields of a stored response.
    private static func partialFields(_ representation: Representation, withLabel: Bool) -> String {
        switch representation.source {
        case .local:
            representation.object.commonFields
        case .stored(let hit, let age, let label):
            withLabel ? "Age: \(age)\r\nX-Cache: \(label.text)\r\n" + hit.rangeFields : hit.rangeFields + "Age: \(age)\r\n"
        }
    }

    private mutating func writePartialStatus(_ representation: Representation, keepAlive: Bool, minorVersion: UInt8) {
        switch representation.source {
        case .local: self.writeStatus(.partialContent, keepAlive: keepAlive, minorVersion: minorVersion)
        case .stored(let hit, _, _): self.writeStatusLine(nil, status: .partialContent, hasDate: hit.hasDate, keepAlive: keepAlive, minorVersion: minorVersion)
        }
    }

    /// The parts of a `multipart/byteranges` body (RFC 9110 §14.6) and its length.
    /// - Parameter extent: where the object's body lies in the representation (``Representation/extent``).
    static func multipartBody(
        _ object: PreparedObject,
        _ ranges: [Range<Int64>],
        extent: (start: Int64, completeLength: Int64)? = nil,
        contentType: String?,
        boundary: String
    ) -> (pieces: [BodyPiece], length: Int64) {
        var pieces: [BodyPiece] = []
        var length: Int64 = 0
        for range in ranges {
            let partHead = ByteBuffer(
                string: "\r\n--\(boundary)\r\n" + (contentType.map { "Content-Type: \($0)\r\n" } ?? "")
                    + "Content-Range: bytes \(range.lowerBound)-\(range.upperBound - 1)/\(extent?.completeLength ?? object.length)\r\n\r\n")
            length += Int64(partHead.readableBytes) + Int64(range.count)
            pieces.append(.buffer(partHead))
            let start = extent?.start ?? 0
            pieces.append(Self.piece(object, (range.lowerBound - start)..<(range.upperBound - start)))
        }
        let tail = ByteBuffer(string: "\r\n--\(boundary)--\r\n")
        length += Int64(tail.readableBytes)
        pieces.append(.buffer(tail))
        return (pieces, length)
    }

    /// A range of the object's body: a slice of it in memory, or a range of the volume file.
    static func piece(_ object: PreparedObject, _ range: Range<Int64>) -> BodyPiece {
        if let body = object.body {
            return .buffer(body.getSlice(at: body.readerIndex + Int(range.lowerBound), length: Int(range.count))!)
        }
        return .file(offset: object.fileOffset + range.lowerBound, length: Int64(range.count))
    }

    /// Writes body pieces that are all in memory; otherwise returns them as a stream.
    private mutating func sendBody(_ object: PreparedObject, _ pieces: [BodyPiece], status: HTTPStatus, keepAlive: Bool, mount: Mount) -> Outcome {
        var total: Int64 = 0
        var inMemory = true
        for piece in pieces {
            switch piece {
            case .buffer(let buffer): total += Int64(buffer.readableBytes)
            case .file(_, let length):
                total += length
                inMemory = false
            }
        }
        self.counts.count(status, bytes: Int(total))
        guard !inMemory else {
            for case .buffer(let buffer) in pieces { self.emit(buffer) }
            if pieces.isEmpty {
                object.counters.hits.add(1, ordering: .relaxed)
            } else {
                object.counters.recordWhole(bytes: Int(total))
            }
            return .complete(keepAlive: keepAlive)
        }
        let stream = BodyStream(pieces: pieces, total: total, counters: object.counters, mount: mount, copies: object.cached != nil)
        return .stream(stream, keepAlive: keepAlive)
    }

    // MARK: - Heads and errors

    @inline(__always)
    private mutating func writeConnectionField(keepAlive: Bool, minorVersion: UInt8) {
        if !keepAlive {
            self.out.writeStaticString("Connection: close\r\n")
        } else if minorVersion == 0 {
            self.out.writeStaticString("Connection: keep-alive\r\n")
        }
    }

    /// Status line, `Date` and the connection field.
    private mutating func writeStatus(_ status: HTTPStatus, keepAlive: Bool, minorVersion: UInt8) {
        if status == .ok {
            self.out.writeImmutableBuffer(self.dates.okPrefix)
        } else {
            self.out.writeString(status.statusLine)
            self.out.writeImmutableBuffer(self.dates.dateLine)
        }
        self.writeConnectionField(keepAlive: keepAlive, minorVersion: minorVersion)
    }

    /// A stored response's status line (or `status`'s), `Date` unless one is stored, the
    /// connection field.
    private mutating func writeStatusLine(_ line: ByteBuffer?, status: HTTPStatus = .ok, hasDate: Bool, keepAlive: Bool, minorVersion: UInt8) {
        if let line {
            self.out.writeImmutableBuffer(line)
        } else {
            self.out.writeString(status.statusLine)
        }
        if !hasDate { self.out.writeImmutableBuffer(self.dates.dateLine) }
        self.writeConnectionField(keepAlive: keepAlive, minorVersion: minorVersion)
    }

    /// A complete error response with a short text body.
    /// - Parameter fields: field lines to send (a `Server` line is added unless they have one).
    mutating func writeError(
        _ status: HTTPStatus,
        keepAlive: Bool,
        minorVersion: UInt8 = 1,
        isHead: Bool = false,
        allow: StaticString? = nil,
        fields: String = ""
    ) {
        let body = "\(status.code) \(status.reason)\n"
        self.writeStatus(status, keepAlive: keepAlive, minorVersion: minorVersion)
        var text = fields.contains("Server: ") ? fields : "Server: \(self.serverName)\r\n" + fields
        if let allow { text += "Allow: \(allow)\r\n" }
        self.out.writeString(text + "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        if !isHead { self.out.writeString(body) }
        self.counts.count(status, bytes: isHead ? 0 : body.utf8.count)
    }

    // MARK: - Relayed responses

    /// Writes the head of a relayed response and decides how its body is framed.
    mutating func writeRelayHead(_ head: RelayHead, _ framing: Framing) -> RelayFraming {
        let bodiless = framing.isHead || !head.status.hasContent
        var keepAlive = framing.keepAlive
        var chunked = false
        if !bodiless, head.contentLength == nil {
            if framing.minorVersion == 1 { chunked = true } else { keepAlive = false }
        }
        self.out.writeString(head.status.statusLine)
        if !head.fields.contains(name: "date") { self.out.writeImmutableBuffer(self.dates.dateLine) }
        self.writeConnectionField(keepAlive: keepAlive, minorVersion: framing.minorVersion)
        var text = ""
        for (name, value) in head.fields { text += "\(name): \(value)\r\n" }
        if !head.fields.contains(name: "server") { text += "Server: \(self.serverName)\r\n" }
        if let label = head.label { text += "Via: 1.1 minicache\r\nX-Cache: \(label.text)\r\n" }
        if head.status.hasContent {
            if let contentLength = head.contentLength {
                text += "Content-Length: \(contentLength)\r\n"
            } else if chunked {
                text += "Transfer-Encoding: chunked\r\n"
            }
        }
        self.out.writeString(text + "\r\n")
        self.counts.count(head.status, bytes: 0)
        return RelayFraming(keepAlive: keepAlive, chunked: chunked, bodiless: bodiless)
    }

    /// Writes `100 Continue`: the client may send the content it holds back (RFC 9110 §15.2.1).
    mutating func writeContinue() {
        self.out.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
    }

    /// Writes an interim (1xx) response relayed before the final one: its status line and
    /// fields only (no `Date`, no framing: RFC 9110 §15.2).
    mutating func writeInterim(_ head: RelayHead) {
        var text = head.status.statusLine
        for (name, value) in head.fields { text += "\(name): \(value)\r\n" }
        self.out.writeString(text + "\r\n")
    }

    /// Writes part of a relayed body.
    mutating func writeRelayBody(_ bytes: ByteBuffer, chunked: Bool) {
        if chunked {
            self.out.writeString(String(bytes.readableBytes, radix: 16) + "\r\n")
            self.emit(bytes)
            self.out.writeStaticString("\r\n")
        } else {
            self.emit(bytes)
        }
        self.counts.bytes += bytes.readableBytes
    }

    /// Ends a relayed body.
    mutating func writeRelayEnd(chunked: Bool) {
        if chunked { self.out.writeStaticString("0\r\n\r\n") }
    }
}
