extension VolumeHeader {
    /// Decodes and validates chunk 0's common header from the first bytes of the volume.
    static func decodeCommon(_ bytes: [UInt8], path: String) throws(SHFSError) -> VolumeHeader {
        var result: Result<VolumeHeader, SHFSError> = .failure(SHFSError(.io, ""))
        bytes.withUnsafeBytes { b in result = Result { () throws(SHFSError) in try decodeCommon(b, path: path) } }
        return try result.get()
    }

    static func decodeCommon(_ head: UnsafeRawBufferPointer, path: String) throws(SHFSError) -> VolumeHeader {
        let base = Layout.bootAreaSize
        guard head.count >= base + Layout.Common.size else {
            throw SHFSError(.notAVolume, "\(path): not an SHFS volume: only \(head.count) bytes, too short for the header at byte \(base)")
        }
        let h = UnsafeRawBufferPointer(rebasing: head[base..<(base + Layout.Common.size)])
        guard Array(h[0..<4]) == Layout.Common.magicBytes else {
            throw SHFSError(.notAVolume, "\(path): not an SHFS volume: no 'SHFS' magic at byte \(base); create one with `shfs mkfs`")
        }
        let major = h[Layout.Common.version], minor = h[Layout.Common.version + 1]
        guard major == Layout.Common.versionMajor, minor == Layout.Common.versionMinor else {
            throw SHFSError(.unsupportedVolume, "\(path): unsupported SHFS version \(major).\(minor < 10 ? "0" : "")\(minor) at byte \(base + Layout.Common.version); only 2.01 is supported")
        }
        let order = h[Layout.Common.byteOrder]
        guard order == 0 else {
            let off = base + Layout.Common.byteOrder
            if order == 1 {
                throw SHFSError(.unsupportedVolume, "\(path): big-endian volume (byte order 1 at byte \(off)); only little-endian volumes are supported")
            }
            throw SHFSError(.corruptVolume, "\(path): invalid byte order \(order) at byte \(off) (expected 0 = little endian)")
        }
        let members = Int(h[Layout.Common.memberCount])
        guard members >= 1, members <= Layout.Common.maxMembers else {
            throw SHFSError(.corruptVolume, "\(path): invalid member count \(members) at byte \(base + Layout.Common.memberCount) (expected 1...16)")
        }
        guard members == 1 else {
            throw SHFSError(.unsupportedVolume, "\(path): striped volume of \(members) members; only single-member volumes are supported")
        }
        guard let mode = StripeMode(rawValue: h[Layout.Common.stripeMode]) else {
            throw SHFSError(.corruptVolume, "\(path): invalid stripe mode \(h[Layout.Common.stripeMode]) at byte \(base + Layout.Common.stripeMode) (expected 0 or 1)")
        }
        let stripe = Int(h.le(Layout.Common.stripeSize, as: UInt32.self))
        guard stripe >= 4096, stripe <= 32768, stripe & (stripe - 1) == 0 else {
            throw SHFSError(.corruptVolume, "\(path): invalid stripe size \(stripe) at byte \(base + Layout.Common.stripeSize) (expected a power of two, 4096...32768)")
        }
        let size = h.le(Layout.Common.sizeInChunks, as: UInt64.self)
        guard size >= 3, size <= UInt64(Int64.max) / UInt64(stripe * members) else {
            throw SHFSError(.corruptVolume, "\(path): invalid volume size \(size) chunks at byte \(base + Layout.Common.sizeInChunks)")
        }
        return VolumeHeader(
            name: h.cString(Layout.Common.name, Layout.Common.nameSize),
            uuid: Array(h[Layout.Common.uuid..<(Layout.Common.uuid + 16)]),
            sizeInChunks: Int64(size),
            creationTime: Int64(bitPattern: h.le(Layout.Common.creationTime, as: UInt64.self)),
            stripeMode: mode,
            stripeSize: stripe,
            memberUUID: Array(h[Layout.Common.memberUUID..<(Layout.Common.memberUUID + 16)]),
            memberCount: members,
            hashTableChunk: 0, backupHashTableChunk: 0, hashFunction: .sha, digestLength: 32,
            bucketCount: 0, entriesPerBucket: 0, allocator: .firstFit
        )
    }

    /// Decodes and validates chunk 1's configuration header into `self`.
    mutating func decodeConfig(_ bytes: [UInt8], path: String) throws(SHFSError) {
        var copy = self
        var result: Result<Void, SHFSError> = .success(())
        bytes.withUnsafeBytes { b in result = Result { () throws(SHFSError) in try copy.decodeConfig(b, path: path) } }
        try result.get()
        self = copy
    }

    mutating func decodeConfig(_ c: UnsafeRawBufferPointer, path: String) throws(SHFSError) {
        let base = Int64(chunkSize)
        func bad(_ what: String, _ off: Int) -> SHFSError {
            SHFSError(.corruptVolume, "\(path): \(what) at byte \(base + Int64(off)) (configuration header)")
        }
        let table = c.le(Layout.Config.hashTableChunk, as: UInt64.self)
        let backup = c.le(Layout.Config.backupHashTableChunk, as: UInt64.self)
        guard let fn = HashFunction(rawValue: c[Layout.Config.hashFunction]) else {
            throw bad("invalid hash function \(c[Layout.Config.hashFunction]) (expected 1...5)", Layout.Config.hashFunction)
        }
        let hlen = Int(c[Layout.Config.digestLength])
        guard hlen >= 4, hlen <= Layout.Entry.maxDigestLength else {
            throw bad("unsupported digest length \(hlen) (expected 4...64)", Layout.Config.digestLength)
        }
        let buckets = c.le(Layout.Config.bucketCount, as: UInt32.self)
        let perBucket = c.le(Layout.Config.entriesPerBucket, as: UInt32.self)
        guard buckets >= 1 else { throw bad("bucket count is 0", Layout.Config.bucketCount) }
        guard perBucket >= 1 else { throw bad("entries per bucket is 0", Layout.Config.entriesPerBucket) }
        guard UInt64(buckets) * UInt64(perBucket) <= 1 << 27 else {
            throw bad("hash table of \(buckets) x \(perBucket) entries is implausibly large", Layout.Config.bucketCount)
        }
        guard let alloc = Allocator(rawValue: c[Layout.Config.allocator]) else {
            throw bad("invalid allocator \(c[Layout.Config.allocator]) (expected 0 first-fit or 1 best-fit)", Layout.Config.allocator)
        }
        hashFunction = fn
        digestLength = hlen
        bucketCount = Int(buckets)
        entriesPerBucket = Int(perBucket)
        allocator = alloc
        guard table >= 2, table < UInt64(sizeInChunks), UInt64(sizeInChunks) - table >= UInt64(hashTableChunks) else {
            throw bad("hash table at chunk \(table) (\(hashTableChunks) chunks) is not inside the volume's chunks 2..<\(sizeInChunks)", Layout.Config.hashTableChunk)
        }
        hashTableChunk = Int64(table)
        if backup != 0 {
            guard backup >= 2, backup < UInt64(sizeInChunks), UInt64(sizeInChunks) - backup >= UInt64(hashTableChunks) else {
                throw bad("backup hash table at chunk \(backup) (\(hashTableChunks) chunks) is not inside the volume's chunks 2..<\(sizeInChunks)", Layout.Config.backupHashTableChunk)
            }
            let b = Int64(backup)
            guard b + hashTableChunks <= hashTableChunk || hashTableChunk + hashTableChunks <= b else {
                throw bad("backup hash table at chunk \(backup) overlaps the hash table at chunk \(table)", Layout.Config.backupHashTableChunk)
            }
            backupHashTableChunk = b
        }
        guard dataStartChunk < sizeInChunks else {
            throw SHFSError(.corruptVolume, "\(path): metadata takes \(dataStartChunk) of the volume's \(sizeInChunks) chunks, leaving no data area")
        }
    }

    /// Encodes chunk 0 (boot area and common header) into `out` (at least ``Layout/detectionSize`` bytes).
    func encodeCommon(into out: UnsafeMutableRawBufferPointer) {
        let h = UnsafeMutableRawBufferPointer(rebasing: out[Layout.bootAreaSize..<(Layout.bootAreaSize + Layout.Common.size)])
        h.storeField(Layout.Common.magicBytes, Layout.Common.magic, 4)
        h[Layout.Common.version] = Layout.Common.versionMajor
        h[Layout.Common.version + 1] = Layout.Common.versionMinor
        h.storeField(uuid, Layout.Common.uuid, 16)
        h.storeField(Array(name.utf8), Layout.Common.name, Layout.Common.nameSize)
        h[Layout.Common.byteOrder] = 0
        h[Layout.Common.encoding] = 0
        h.storeLE(UInt64(sizeInChunks), Layout.Common.sizeInChunks)
        h.storeLE(UInt64(bitPattern: creationTime), Layout.Common.creationTime)
        h[Layout.Common.stripeMode] = stripeMode.rawValue
        h.storeLE(UInt32(stripeSize), Layout.Common.stripeSize)
        h.storeField(memberUUID, Layout.Common.memberUUID, 16)
        h[Layout.Common.memberCount] = UInt8(memberCount)
        h.storeField(memberUUID, Layout.Common.memberUUIDs, 16)
    }

    /// Encodes chunk 1's configuration header into `out` (at least ``Layout/Config/size`` bytes).
    func encodeConfig(into c: UnsafeMutableRawBufferPointer) {
        c.storeLE(UInt64(hashTableChunk), Layout.Config.hashTableChunk)
        c.storeLE(UInt64(backupHashTableChunk), Layout.Config.backupHashTableChunk)
        c[Layout.Config.hashFunction] = hashFunction.rawValue
        c[Layout.Config.digestLength] = UInt8(digestLength)
        c.storeLE(UInt32(bucketCount), Layout.Config.bucketCount)
        c.storeLE(UInt32(entriesPerBucket), Layout.Config.entriesPerBucket)
        c[Layout.Config.allocator] = allocator.rawValue
    }
}
