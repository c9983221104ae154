#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPToolkit
import Logging
import NIOCore
import Synchronization

/// What a request target names.
enum TargetLookup {
    case object(PreparedObject)
    case notFound
    case invalid
}

extension HTTPConnectionHandler {
    /// Answers one parsed request whose bytes are `bytes` (the head starts at offset 0).
    func respond(to head: RequestHead, bytes: UnsafeRawBufferPointer, context: ChannelHandlerContext) {
        let keepAlive = head.keepAlive && !self.quiescing && !head.hasTransferEncoding
        if head.method != .get, head.method != .head, let cache = self.server.cache {
            // A cache forwards other methods to its origin (RFC 9111 §4.4).
            self.passThrough(cache, head: head, bytes: bytes, keepAlive: keepAlive, context: context)
            return
        }
        switch head.method {
        case .get, .head:
            break
        case .notAllowed:
            self.writeError(.methodNotAllowed, keepAlive: keepAlive, extraFields: "Allow: GET, HEAD\r\n", context: context)
            self.logAccess(head, bytes: bytes, status: .methodNotAllowed)
            return
        case .unknown:
            self.writeError(.notImplemented, keepAlive: keepAlive, context: context)
            self.logAccess(head, bytes: bytes, status: .notImplemented)
            return
        }
        let isGet = head.method == .get
        let object: PreparedObject
        switch self.lookup(head.target, in: bytes) {
        case .object(let found):
            object = found
        case .notFound:
            if let cache = self.server.cache {
                self.respondFromCache(cache, head: head, bytes: bytes, keepAlive: keepAlive, context: context)
                return
            }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.target.lowerBound..<head.target.upperBound]), as: UTF8.self)
            self.server.registry.recordMiss(key)
            self.writeError(.notFound, keepAlive: keepAlive, isHead: !isGet, context: context)
            self.logAccess(head, bytes: bytes, status: .notFound)
            return
        case .invalid:
            self.writeError(.badRequest, keepAlive: false, context: context)
            self.logAccess(head, bytes: bytes, status: .badRequest)
            return
        }

        switch object.kind {
        case .file:
            if head.isPlain, let body = object.body {
                // The fast path: status and Date, connection field, prepared fields and body.
                self.out.writeImmutableBuffer(self.dates.okPrefix)
                self.writeConnectionField(keepAlive: keepAlive, minorVersion: head.minorVersion)
                if isGet {
                    self.emit(object.response, context: context)
                    object.counters.recordWhole(bytes: body.readableBytes)
                    self.batchBytes += object.response.readableBytes
                } else {
                    self.emit(object.head, context: context)
                    object.counters.hits.add(1, ordering: .relaxed)
                    self.batchBytes += object.head.readableBytes
                }
                self.batchByClass.1 += 1
                if !keepAlive { self.closing = true }
                if self.server.configuration.accessLog { self.logAccess(head, bytes: bytes, status: .ok) }
                return
            }
            self.respondToFile(object, head: head, bytes: bytes, keepAlive: keepAlive, context: context)
        case .redirect:
            self.writeStatus(.temporaryRedirect, keepAlive: keepAlive, minorVersion: head.minorVersion)
            self.emit(object.response, context: context)
            object.counters.recordWhole(bytes: 0)
            self.finishResponse(status: .temporaryRedirect, bytes: object.response.readableBytes, keepAlive: keepAlive)
            self.logAccess(head, bytes: bytes, status: .temporaryRedirect)
        case .proxy(let link):
            self.startLink(link, object: object, isGet: isGet, keepAlive: keepAlive, minorVersion: head.minorVersion, context: context)
            self.logAccess(head, bytes: bytes, status: .ok)
        }
    }

    /// Conditional, range and on-disk responses for a local object.
    private func respondToFile(
        _ object: PreparedObject,
        head: RequestHead,
        bytes: UnsafeRawBufferPointer,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        let isGet = head.method == .get
        func field(_ range: FieldRange?) -> [UInt8]? {
            range.map { Array(bytes[$0.lowerBound..<$0.upperBound]) }
        }
        func list(_ first: FieldRange?, _ more: [FieldRange]?) -> [[UInt8]]? {
            guard let first else { return nil }
            return [field(first)!] + (more ?? []).map { field($0)! }
        }
        if !head.isPlain {
            let outcome = Preconditions.evaluate(
                ifMatch: list(head.ifMatch, head.extraIfMatch),
                ifUnmodifiedSince: field(head.ifUnmodifiedSince),
                ifNoneMatch: list(head.ifNoneMatch, head.extraIfNoneMatch),
                ifModifiedSince: field(head.ifModifiedSince),
                etag: object.etag,
                lastModified: object.lastModified
            )
            switch outcome {
            case .notModified:
                self.writeStatus(.notModified, keepAlive: keepAlive, minorVersion: head.minorVersion)
                self.out.writeImmutableBuffer(object.notModified)
                object.counters.hits.add(1, ordering: .relaxed)
                self.finishResponse(status: .notModified, bytes: object.notModified.readableBytes, keepAlive: keepAlive)
                self.logAccess(head, bytes: bytes, status: .notModified)
                return
            case .preconditionFailed:
                self.writeError(.preconditionFailed, keepAlive: keepAlive, isHead: !isGet, context: context)
                self.logAccess(head, bytes: bytes, status: .preconditionFailed)
                return
            case .proceed:
                break
            }
        }
        var ranges = ByteRanges.whole
        if let range = field(head.range), !head.ambiguousRange {
            let applies = field(head.ifRange).map {
                Preconditions.ifRangeHolds($0, etag: object.etag, lastModified: object.lastModified)
            } ?? true
            if applies { ranges = ByteRanges.resolve(range, length: object.length) }
        }
        switch ranges {
        case .whole:
            self.writeStatus(.ok, keepAlive: keepAlive, minorVersion: head.minorVersion)
            self.emit(object.head, context: context)
            self.sendBody(object, pieces: isGet ? [self.piece(object, 0..<object.length)] : [], keepAlive: keepAlive, status: .ok, context: context)
            self.logAccess(head, bytes: bytes, status: .ok)
        case .unsatisfiable:
            self.writeError(
                .rangeNotSatisfiable,
                keepAlive: keepAlive,
                extraFields: object.commonFields + "Content-Range: bytes */\(object.length)\r\n",
                isHead: !isGet,
                context: context
            )
            self.logAccess(head, bytes: bytes, status: .rangeNotSatisfiable)
        case .ranges(let list) where list.count == 1:
            let r = list[0]
            self.writeStatus(.partialContent, keepAlive: keepAlive, minorVersion: head.minorVersion)
            self.out.writeString(
                object.commonFields + "Content-Type: \(object.contentType)\r\n"
                    + "Content-Range: bytes \(r.lowerBound)-\(r.upperBound - 1)/\(object.length)\r\n"
                    + "Content-Length: \(r.count)\r\n\r\n"
            )
            self.sendBody(object, pieces: isGet ? [self.piece(object, r)] : [], keepAlive: keepAlive, status: .partialContent, context: context)
            self.logAccess(head, bytes: bytes, status: .partialContent)
        case .ranges(let list):
            let boundary = "minicache-\(object.etag.prefix(16).map { String(UnicodeScalar($0)) }.joined())"
            let (pieces, length) = self.multipartBody(object, list, contentType: object.contentType, boundary: boundary)
            self.writeStatus(.partialContent, keepAlive: keepAlive, minorVersion: head.minorVersion)
            self.out.writeString(
                object.commonFields + "Content-Type: multipart/byteranges; boundary=\(boundary)\r\n"
                    + "Content-Length: \(length)\r\n\r\n"
            )
            self.sendBody(object, pieces: isGet ? pieces : [], keepAlive: keepAlive, status: .partialContent, context: context)
            self.logAccess(head, bytes: bytes, status: .partialContent)
        }
    }

    /// The parts of a `multipart/byteranges` body (RFC 9110 §14.6) and its length.
    func multipartBody(_ object: PreparedObject, _ list: [Range<Int64>], contentType: String?, boundary: String) -> (pieces: [BodyPiece], length: Int64) {
        var pieces: [BodyPiece] = []
        var length: Int64 = 0
        for r in list {
            let partHead = ByteBuffer(
                string: "\r\n--\(boundary)\r\n" + (contentType.map { "Content-Type: \($0)\r\n" } ?? "")
                    + "Content-Range: bytes \(r.lowerBound)-\(r.upperBound - 1)/\(object.length)\r\n\r\n")
            length += Int64(partHead.readableBytes) + Int64(r.count)
            pieces.append(.buffer(partHead))
            pieces.append(self.piece(object, r))
        }
        let tail = ByteBuffer(string: "\r\n--\(boundary)--\r\n")
        length += Int64(tail.readableBytes)
        pieces.append(.buffer(tail))
        return (pieces, length)
    }

    func piece(_ object: PreparedObject, _ range: Range<Int64>) -> BodyPiece {
        if let body = object.body {
            return .buffer(body.getSlice(at: body.readerIndex + Int(range.lowerBound), length: Int(range.count))!)
        }
        return .file(offset: object.fileOffset + range.lowerBound, length: Int64(range.count))
    }

    /// Sends body pieces: at once when all are in memory, else as a stream.
    func sendBody(_ object: PreparedObject, pieces: [BodyPiece], keepAlive: Bool, status: HTTPStatus, context: ChannelHandlerContext) {
        self.sendBody(object, pieces: pieces, keepAlive: keepAlive, code: status.code, context: context)
    }

    func sendBody(_ object: PreparedObject, pieces: [BodyPiece], keepAlive: Bool, code: Int, context: ChannelHandlerContext) {
        var total: Int64 = 0
        var inMemory = true
        for piece in pieces {
            switch piece {
            case .buffer(let b): total += Int64(b.readableBytes)
            case .file(_, let length):
                total += length
                inMemory = false
            }
        }
        if inMemory {
            for case .buffer(let b) in pieces { self.emit(b, context: context) }
            if pieces.isEmpty {
                object.counters.hits.add(1, ordering: .relaxed)
            } else {
                object.counters.recordWhole(bytes: Int(total))
            }
            self.finishResponse(code: code, bytes: Int(total), keepAlive: keepAlive)
            return
        }
        self.finishResponse(code: code, bytes: 0, keepAlive: keepAlive)
        self.batchBytes += Int(total)
        self.startStream(BodyStream(pieces: pieces, total: total, counters: object.counters, mount: self.mount), context: context)
    }

    func finishResponse(status: HTTPStatus, bytes: Int, keepAlive: Bool) {
        self.finishResponse(code: status.code, bytes: bytes, keepAlive: keepAlive)
    }

    func finishResponse(code: Int, bytes: Int, keepAlive: Bool) {
        switch code / 100 {
        case 2: self.batchByClass.1 += 1
        case 3: self.batchByClass.2 += 1
        case 4: self.batchByClass.3 += 1
        case 5: self.batchByClass.4 += 1
        default: self.batchByClass.0 += 1
        }
        self.batchBytes += bytes
        if !keepAlive { self.closing = true }
    }

    @inline(__always)
    func writeConnectionField(keepAlive: Bool, minorVersion: UInt8) {
        if !keepAlive {
            self.out.writeStaticString("Connection: close\r\n")
        } else if minorVersion == 0 {
            self.out.writeStaticString("Connection: keep-alive\r\n")
        }
    }

    /// Status line, `Date` and the connection field.
    func writeStatus(_ status: HTTPStatus, keepAlive: Bool, minorVersion: UInt8) {
        if status == .ok {
            self.out.writeImmutableBuffer(self.dates.okPrefix)
        } else {
            self.out.writeString(status.statusLine)
            self.out.writeImmutableBuffer(self.dates.dateLine)
        }
        self.writeConnectionField(keepAlive: keepAlive, minorVersion: minorVersion)
    }

    /// A complete error response with a short text body.
    func writeError(
        _ status: HTTPStatus,
        keepAlive: Bool,
        extraFields: String = "",
        isHead: Bool = false,
        context: ChannelHandlerContext
    ) {
        let body = "\(status.code) \(status.reason)\n"
        self.writeStatus(status, keepAlive: keepAlive, minorVersion: 1)
        var fields = extraFields
        if !fields.contains("Server: ") { fields = "Server: \(self.server.configuration.serverName)\r\n" + fields }
        self.out.writeString(fields + "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        if !isHead { self.out.writeString(body) }
        self.finishResponse(status: status, bytes: body.utf8.count, keepAlive: keepAlive)
    }

    /// Resolves `/`, `/?<hex digest>` and `/<percent-encoded name>` (query ignored).
    func lookup(_ target: FieldRange, in bytes: UnsafeRawBufferPointer) -> TargetLookup {
        // Absolute-form without a path (`http://host` or `http://host?q`) means `/` (RFC 9112 §3.2.2).
        if target.count == 0 { return self.mount.defaultObject.map { .object($0) } ?? .notFound }
        let start = target.lowerBound
        let end = target.upperBound
        guard bytes[start] == 47 || bytes[start] == 63 else { return .invalid }
        if bytes[start] == 63 { return self.lookupRoot(query: start + 1, end: end, in: bytes) }
        var queryStart = end
        var hasPercent = false
        var k = start
        while k < end {
            let c = bytes[k]
            if c == 63 {
                queryStart = k
                break
            }
            if c == 37 { hasPercent = true }
            k += 1
        }
        if queryStart == start + 1 || end == start + 1 {
            return self.lookupRoot(query: queryStart + 1, end: end, in: bytes)
        }
        let nameStart = start + 1
        if !hasPercent {
            guard let index = self.mount.byName.lookup(UnsafeRawBufferPointer(rebasing: bytes[nameStart..<queryStart])) else {
                return .notFound
            }
            return .object(self.mount.objects[index])
        }
        return withUnsafeTemporaryAllocation(byteCount: queryStart - nameStart, alignment: 1) { decoded in
            var i = nameStart
            var n = 0
            while i < queryStart {
                var c = bytes[i]
                if c == 37 {
                    guard i + 2 < queryStart, let hi = Self.hexValue(bytes[i + 1]), let lo = Self.hexValue(bytes[i + 2]) else {
                        return .invalid
                    }
                    c = hi << 4 | lo
                    i += 2
                }
                decoded[n] = c
                n += 1
                i += 1
            }
            guard let index = self.mount.byName.lookup(UnsafeRawBufferPointer(rebasing: decoded[0..<n])) else { return .notFound }
            return .object(self.mount.objects[index])
        }
    }

    /// `/` with an optional query: a query that is a whole hex digest names an object by digest,
    /// any other query is ignored.
    private func lookupRoot(query: Int, end: Int, in bytes: UnsafeRawBufferPointer) -> TargetLookup {
        if end - query == self.mount.digestHexLength {
            return withUnsafeTemporaryAllocation(byteCount: end - query, alignment: 1) { lower in
                for i in 0..<(end - query) {
                    let c = bytes[query + i]
                    switch c {
                    case 48...57, 97...102: lower[i] = c
                    case 65...70: lower[i] = c | 0x20
                    default: return .notFound
                    }
                }
                guard let index = self.mount.byDigest.lookup(UnsafeRawBufferPointer(lower)) else { return .notFound }
                return .object(self.mount.objects[index])
            }
        }
        if end - query > 0, end - query != self.mount.digestHexLength,
            Self.allHex(bytes, query, end), end - query >= 8
        {
            return .notFound
        }
        return self.mount.defaultObject.map { .object($0) } ?? .notFound
    }

    private static func allHex(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        for k in start..<end where Self.hexValue(bytes[k]) == nil { return false }
        return true
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }

    func logAccess(_ head: RequestHead, bytes: UnsafeRawBufferPointer, status: HTTPStatus) {
        guard self.server.configuration.accessLog else { return }
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.target.lowerBound..<head.target.upperBound]), as: UTF8.self)
        let peer = self.context?.remoteAddress?.description ?? "?"
        self.server.logger.info(
            "request",
            metadata: [
                "http.method": "\(head.method == .get ? "GET" : head.method == .head ? "HEAD" : "other")",
                "http.target": "\(target)", "http.status": "\(status.code)", "net.peer": "\(peer)",
            ]
        )
    }
}
