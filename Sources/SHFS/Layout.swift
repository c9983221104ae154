/// Byte offsets of the SHFS 2.01 on-disk structures (see SHFS-FORMAT.md).
package enum Layout {
    /// The reserved boot area at the start of chunk 0.
    package static let bootAreaSize = 1024
    /// Detection reads this many bytes of the volume.
    package static let detectionSize = 4096

    /// Common header, relative to ``bootAreaSize``.
    package enum Common {
        package static let magic = 0
        package static let version = 4
        package static let uuid = 6
        package static let name = 22
        package static let nameSize = 16
        package static let byteOrder = 38
        package static let encoding = 39
        package static let sizeInChunks = 40
        package static let creationTime = 48
        package static let stripeMode = 56
        package static let stripeSize = 57
        package static let memberUUID = 61
        package static let memberCount = 77
        package static let memberUUIDs = 78
        package static let maxMembers = 16
        package static let size = 78 + 16 * 16
        package static let magicBytes: [UInt8] = Array("SHFS".utf8)
        package static let versionMajor: UInt8 = 2
        package static let versionMinor: UInt8 = 1
    }

    /// Configuration header at byte 0 of chunk 1.
    package enum Config {
        package static let hashTableChunk = 0
        package static let backupHashTableChunk = 8
        package static let hashFunction = 16
        package static let digestLength = 17
        package static let bucketCount = 18
        package static let entriesPerBucket = 22
        package static let allocator = 26
        package static let size = 27
    }

    /// One hash-table entry.
    package enum Entry {
        package static let size = 256
        package static let rawSize = 245
        package static let digest = 0
        package static let maxDigestLength = 64
        // File attributes.
        package static let chunk = 64
        package static let offset = 72
        package static let length = 80
        package static let mime = 88
        package static let mimeSize = 32
        package static let encoding = 120
        package static let encodingSize = 16
        // Link attributes.
        package static let hostType = 64
        package static let host = 65
        package static let hostSize = 32
        package static let port = 98
        package static let path = 100
        package static let pathSize = 71
        package static let linkType = 171
        // Common.
        package static let creationTime = 172
        package static let flags = 180
        package static let name = 181
        package static let nameSize = 64
    }
}
