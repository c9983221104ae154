/// Attributes of an object being added with ``VolumeWriter``.
public struct ObjectOptions: Sendable {
    /// Name (at most 64 bytes; empty for none). Names are unique on a volume.
    public var name: String
    /// MIME type (at most 32 bytes; empty serves as `application/octet-stream`).
    public var mimeType: String
    /// Content-Encoding of pre-encoded content (at most 16 bytes), empty for none.
    public var encoding: String
    /// The digest to store instead of the SHA-256 of the content (exactly `digestLength` bytes).
    public var digest: [UInt8]?
    /// Hide the object from listings.
    public var hidden: Bool

    public init(name: String = "", mimeType: String = "", encoding: String = "", digest: [UInt8]? = nil, hidden: Bool = false) {
        self.name = name
        self.mimeType = mimeType
        self.encoding = encoding
        self.digest = digest
        self.hidden = hidden
    }
}
