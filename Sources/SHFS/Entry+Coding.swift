extension Entry {
    /// Whether the slot at `raw` is empty (its first `digestLength` bytes are zero).
    @inline(__always)
    static func isEmpty(_ raw: UnsafeRawBufferPointer, digestLength: Int) -> Bool {
        raw.isZero(Layout.Entry.digest, digestLength)
    }

    /// Decodes a non-empty 256-byte slot; field checks are left to the caller.
    @inline(__always)
    static func decode(_ raw: UnsafeRawBufferPointer, slot: Int, chunkSize: Int, digestLength: Int) -> (Entry, rawChunk: UInt64, rawOffset: UInt64, rawLength: UInt64, linkFieldsValid: Bool) {
        let flags = Flags(rawValue: raw[Layout.Entry.flags])
        let digest = Array(UnsafeRawBufferPointer(rebasing: raw[0..<digestLength]))
        let name = raw.cString(Layout.Entry.name, Layout.Entry.nameSize)
        let ts = Int64(bitPattern: raw.le(Layout.Entry.creationTime, as: UInt64.self))
        if flags.contains(.link) {
            let hostTypeRaw = raw[Layout.Entry.hostType]
            let linkTypeRaw = raw[Layout.Entry.linkType]
            let hostType = Link.HostType(rawValue: hostTypeRaw) ?? .name
            let host: String
            switch hostType {
            case .name:
                host = raw.cString(Layout.Entry.host, Layout.Entry.hostSize)
            case .ipv4:
                host = (0..<4).map { String(raw[Layout.Entry.host + $0]) }.joined(separator: ".")
            case .ipv6:
                host = (0..<8).map { i in
                    let v = UInt16(raw[Layout.Entry.host + 2 * i]) << 8 | UInt16(raw[Layout.Entry.host + 2 * i + 1])
                    return String(v, radix: 16)
                }.joined(separator: ":")
            }
            let link = Link(
                host: host,
                port: raw.le(Layout.Entry.port, as: UInt16.self),
                path: raw.cString(Layout.Entry.path, Layout.Entry.pathSize),
                type: LinkType(rawValue: linkTypeRaw) ?? .redirect,
                hostType: hostType
            )
            let valid = Link.HostType(rawValue: hostTypeRaw) != nil && LinkType(rawValue: linkTypeRaw) != nil && !host.isEmpty
            return (Entry(slot: slot, digest: digest, name: name, creationTime: ts, flags: flags, content: .link(link)), 0, 0, 0, valid)
        }
        let chunk = raw.le(Layout.Entry.chunk, as: UInt64.self)
        let offset = raw.le(Layout.Entry.offset, as: UInt64.self)
        let length = raw.le(Layout.Entry.length, as: UInt64.self)
        let cs = UInt64(chunkSize)
        // Out-of-range values are reported by the caller; keep the arithmetic from trapping here.
        let start = chunk <= UInt64(Int64.max) / cs && offset <= UInt64(Int64.max) - chunk * cs ? Int64(chunk * cs + offset) : Int64.max
        let extent = Extent(
            byteOffset: start,
            length: length <= UInt64(Int64.max) ? Int64(length) : Int64.max,
            mimeType: raw.cString(Layout.Entry.mime, Layout.Entry.mimeSize),
            encoding: raw.cString(Layout.Entry.encoding, Layout.Entry.encodingSize)
        )
        return (Entry(slot: slot, digest: digest, name: name, creationTime: ts, flags: flags, content: .object(extent)), chunk, offset, length, true)
    }

    /// Encodes the entry into a zeroed 256-byte slot image. The caller has validated field lengths.
    func encode(into raw: UnsafeMutableRawBufferPointer, chunkSize: Int) {
        raw.storeField(digest, Layout.Entry.digest, Layout.Entry.maxDigestLength)
        switch content {
        case .object(let e):
            let chunk = e.byteOffset / Int64(chunkSize)
            raw.storeLE(UInt64(chunk), Layout.Entry.chunk)
            raw.storeLE(UInt64(e.byteOffset - chunk * Int64(chunkSize)), Layout.Entry.offset)
            raw.storeLE(UInt64(e.length), Layout.Entry.length)
            raw.storeField(Array(e.mimeType.utf8), Layout.Entry.mime, Layout.Entry.mimeSize)
            raw.storeField(Array(e.encoding.utf8), Layout.Entry.encoding, Layout.Entry.encodingSize)
        case .link(let l):
            raw[Layout.Entry.hostType] = Link.HostType.name.rawValue
            raw.storeField(Array(l.host.utf8), Layout.Entry.host, Layout.Entry.hostSize)
            raw.storeLE(l.port, Layout.Entry.port)
            raw.storeField(Array(l.path.utf8), Layout.Entry.path, Layout.Entry.pathSize)
            raw[Layout.Entry.linkType] = l.type.rawValue
        }
        raw.storeLE(UInt64(bitPattern: creationTime), Layout.Entry.creationTime)
        raw[Layout.Entry.flags] = flags.rawValue
        raw.storeField(Array(name.utf8), Layout.Entry.name, Layout.Entry.nameSize)
    }

    /// The 256-byte on-disk image of the entry.
    func encoded(chunkSize: Int) -> [UInt8] {
        var raw = [UInt8](repeating: 0, count: Layout.Entry.size)
        raw.withUnsafeMutableBytes { encode(into: $0, chunkSize: chunkSize) }
        return raw
    }

    /// Bucket of a digest: its first 4 bytes, little-endian, modulo the bucket count.
    @inline(__always)
    static func bucket(ofDigest d: UnsafeRawBufferPointer, bucketCount: Int) -> Int {
        Int(d.le(0, as: UInt32.self)) % bucketCount
    }

    static func bucket(ofDigest d: [UInt8], bucketCount: Int) -> Int {
        d.withUnsafeBytes { bucket(ofDigest: $0, bucketCount: bucketCount) }
    }
}
