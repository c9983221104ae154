/// One object or link of a volume, as stored in its hash-table slot.
public struct Entry: Sendable, Hashable {
    /// The entry flags.
    public struct Flags: OptionSet, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// Not listed by default.
        public static let hidden = Flags(rawValue: 0x1)
        /// A link to a remote object instead of local content.
        public static let link = Flags(rawValue: 0x4)
        /// Served for `/`.
        public static let isDefault = Flags(rawValue: 0x8)

        /// Every bit SHFS 2.01 defines.
        public static let known: Flags = [.hidden, .link, .isDefault]
    }

    /// What the entry refers to.
    public enum Content: Sendable, Hashable {
        /// Local content: a contiguous extent of the volume.
        case object(Extent)
        /// A remote object.
        case link(Link)
    }

    /// Hash-table slot (bucket = `slot / entriesPerBucket`).
    public var slot: Int
    /// The digest (`digestLength` bytes).
    public var digest: [UInt8]
    /// Object name, may be empty.
    public var name: String
    /// Creation time, Unix seconds.
    public var creationTime: Int64
    public var flags: Flags
    public var content: Content

    /// Creates an entry.
    public init(slot: Int, digest: [UInt8], name: String, creationTime: Int64, flags: Flags, content: Content) {
        self.slot = slot
        self.digest = digest
        self.name = name
        self.creationTime = creationTime
        self.flags = flags
        self.content = content
    }

    /// The digest as lower-case hex (how objects are addressed over HTTP: `/?<hex>`).
    public var hexDigest: String { Hex.string(digest) }

    /// The extent of a local object, nil for a link.
    public var extent: Extent? {
        if case .object(let e) = content { return e }
        return nil
    }

    /// The remote address of a link, nil for a local object.
    public var link: Link? {
        if case .link(let l) = content { return l }
        return nil
    }

    public var isDefault: Bool { flags.contains(.isDefault) }
    public var isHidden: Bool { flags.contains(.hidden) }
}

/// Where a local object's bytes are in the volume file.
public struct Extent: Sendable, Hashable {
    /// Absolute byte offset in the volume file.
    public var byteOffset: Int64
    /// Length in bytes.
    public var length: Int64
    /// MIME type; may be empty, then serve `application/octet-stream`.
    public var mimeType: String
    /// Content-Encoding of pre-encoded content (`gzip`), may be empty.
    public var encoding: String

    public init(byteOffset: Int64, length: Int64, mimeType: String, encoding: String) {
        self.byteOffset = byteOffset
        self.length = length
        self.mimeType = mimeType
        self.encoding = encoding
    }

    /// ``mimeType``, or `application/octet-stream` when it is empty.
    public var effectiveMimeType: String { mimeType.isEmpty ? "application/octet-stream" : mimeType }
}

/// How a link is served.
public enum LinkType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Answer `307` with `Location: http://host:port/path`.
    case redirect = 0
    /// Fetch from the remote address and pass the bytes through.
    case raw = 1
    /// Fetch from the remote address; the server chooses how.
    case auto = 2

    public var description: String {
        switch self {
        case .redirect: "redirect"
        case .raw: "raw"
        case .auto: "auto"
        }
    }

    /// Parses `redirect`, `raw` or `auto`.
    public init?(name: String) {
        guard let t = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = t
    }
}

/// The remote address of a link entry.
public struct Link: Sendable, Hashable {
    /// How the host is stored on disk.
    public enum HostType: UInt8, Sendable, Hashable {
        case name = 0, ipv4 = 1, ipv6 = 2
    }

    /// Host name, or the address as text.
    public var host: String
    public var port: UInt16
    /// Path without its leading `/` (may hold a query).
    public var path: String
    public var type: LinkType
    public var hostType: HostType

    public init(host: String, port: UInt16, path: String, type: LinkType, hostType: HostType = .name) {
        self.host = host
        self.port = port
        self.path = path
        self.type = type
        self.hostType = hostType
    }

    /// `http://host[:port]/path`, the form a redirect answers with.
    public var url: String {
        let h = hostType == .ipv6 ? "[\(host)]" : host
        return "http://\(h)\(port == 80 ? "" : ":\(port)")/\(path)"
    }
}
