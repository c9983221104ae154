import HTTPToolkit
import NIOCore
import NIOHTTP1
import SHFS

/// An entry of the mounted volume with everything its responses need, prepared at mount:
/// the fields that depend only on the object, and for small objects the body right after them.
package final class PreparedObject: Sendable {
    package enum Kind: Sendable {
        /// Local content; `body` is set when it is kept in memory.
        case file
        /// A link answered with 307.
        case redirect
        /// A raw/auto link fetched from the remote host.
        case proxy(Link)
    }

    package let entry: Entry
    package let kind: Kind
    /// Hex digest bytes: the entity tag without quotes.
    package let etag: [UInt8]
    package let lastModified: Int64
    package let length: Int64
    /// Absolute offset of the content in the volume file.
    package let fileOffset: Int64
    package let contentType: String
    /// `Server`, `ETag`, `Last-Modified`, `Accept-Ranges` and `Content-Encoding` lines: the
    /// fields every response about this object carries.
    package let commonFields: String
    /// Fields after the status and `Date` lines of a 200, the empty line, then the body when it
    /// is in memory.
    package let response: ByteBuffer
    /// `response` up to and including the empty line (the HEAD answer).
    package let head: ByteBuffer
    /// The body, when in memory.
    package let body: ByteBuffer?
    /// Fields and empty line of a 304.
    package let notModified: ByteBuffer
    package let counters: ObjectCounters
    /// The stored origin response when the object is a pull-through cache entry.
    package let cached: CachedMetadata?

    /// - Parameter cached: the decoded metadata of a cache entry; `body` is then the body only.
    package init(entry: Entry, body: [UInt8]?, serverName: String, counters: ObjectCounters, cached: CachedMetadata? = nil) {
        self.entry = entry
        self.counters = counters
        self.cached = cached
        let hex = entry.hexDigest
        self.etag = Array(hex.utf8)
        self.lastModified = cached?.response.times.lastModified ?? entry.creationTime
        let lastModified = HTTPDate.format(entry.creationTime)
        var common = "Server: \(serverName)\r\nETag: \"\(hex)\"\r\nLast-Modified: \(lastModified)\r\n"
        if let cached {
            common = "Server: \(serverName)\r\n"
            if let tag = cached.response.entityTag { common += "ETag: \(tag)\r\n" }
            if let modified = cached.response.lastModified { common += "Last-Modified: \(modified)\r\n" }
            common += cached.forwardedFields
        }
        var fields: String
        switch entry.content {
        case .object(var extent):
            if let cached {
                extent.byteOffset += cached.headerArea
                extent.length -= cached.headerArea
                extent.mimeType = cached.response.headers.first(name: "content-type") ?? ""
                extent.encoding = cached.response.headers.first(name: "content-encoding") ?? ""
            }
            self.kind = .file
            self.length = extent.length
            self.fileOffset = extent.byteOffset
            self.contentType = extent.effectiveMimeType
            common += "Accept-Ranges: bytes\r\n"
            if !extent.encoding.isEmpty { common += "Content-Encoding: \(extent.encoding)\r\n" }
            fields = common + "Content-Type: \(self.contentType)\r\nContent-Length: \(extent.length)\r\n\r\n"
        case .link(let link):
            self.length = 0
            self.fileOffset = 0
            self.contentType = "application/octet-stream"
            if link.type == .redirect {
                self.kind = .redirect
                fields = common + "Location: \(link.url)\r\nContent-Length: 0\r\n\r\n"
            } else {
                self.kind = .proxy(link)
                fields = common
            }
        }
        self.commonFields = common
        var buffer = ByteBuffer()
        buffer.reserveCapacity(fields.utf8.count + (body?.count ?? 0))
        buffer.writeString(fields)
        let headLength = buffer.readableBytes
        if let body { buffer.writeBytes(body) }
        self.response = buffer
        self.head = buffer.getSlice(at: 0, length: headLength)!
        self.body = body == nil ? nil : buffer.getSlice(at: headLength, length: body!.count)!
        self.notModified = ByteBuffer(string: common + "\r\n")
    }

    package var isInMemory: Bool { self.body != nil }
}
