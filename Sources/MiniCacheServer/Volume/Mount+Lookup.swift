import HTTPToolkit
import SHFS

/// What a request target names in a mount.
package enum TargetLookup {
    case object(PreparedObject)
    case notFound
    /// Not a target the server can name an object with (neither `/…` nor `?…`): 400.
    case invalid
}

extension Mount {
    /// Resolves `/`, `/?<hex digest>` and `/<percent-encoded name>` (query ignored) in the
    /// target `target` of `bytes`, without copying it unless it is percent-encoded.
    package func lookup(_ target: FieldRange, in bytes: UnsafeRawBufferPointer) -> TargetLookup {
        // Absolute-form without a path (`http://host` or `http://host?q`) means `/` (RFC 9112 §3.2.2).
        if target.count == 0 { return self.defaultObject.map { .object($0) } ?? .notFound }
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
            guard let index = self.byName.lookup(UnsafeRawBufferPointer(rebasing: bytes[nameStart..<queryStart])) else {
                return .notFound
            }
            return .object(self.objects[index])
        }
        return withUnsafeTemporaryAllocation(byteCount: queryStart - nameStart, alignment: 1) { decoded in
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<queryStart])
            guard let n = PercentCoding.decode(name, into: decoded) else { return .invalid }
            guard let index = self.byName.lookup(UnsafeRawBufferPointer(rebasing: decoded[0..<n])) else { return .notFound }
            return .object(self.objects[index])
        }
    }

    /// The entry `key` names in this mount: a hex digest (any case) or a name. Unlike
    /// ``volume``'s table, it includes what the cache store wrote since the last full mount (the
    /// store writes unnamed objects only, so names are the volume's).
    package func entry(digestOrName key: String) -> Entry? {
        if key.utf8.count == self.digestHexLength, let index = self.byDigest.lookup(Array(key.lowercased().utf8)) {
            return self.objects[index].entry
        }
        return self.volume.entry(name: key)
    }

    /// `/` with an optional query: a query that is a whole hex digest names an object by digest,
    /// any other query is ignored.
    private func lookupRoot(query: Int, end: Int, in bytes: UnsafeRawBufferPointer) -> TargetLookup {
        if end - query == self.digestHexLength {
            return withUnsafeTemporaryAllocation(byteCount: end - query, alignment: 1) { lower in
                for i in 0..<(end - query) {
                    let c = bytes[query + i]
                    switch c {
                    case 48...57, 97...102: lower[i] = c
                    case 65...70: lower[i] = c | 0x20
                    default: return .notFound
                    }
                }
                guard let index = self.byDigest.lookup(UnsafeRawBufferPointer(lower)) else { return .notFound }
                return .object(self.objects[index])
            }
        }
        if end - query > 0, end - query != self.digestHexLength,
            Self.allHex(bytes, query, end), end - query >= 8
        {
            return .notFound
        }
        return self.defaultObject.map { .object($0) } ?? .notFound
    }

    private static func allHex(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        for k in start..<end where Hex.nibble(bytes[k]) == nil { return false }
        return true
    }
}
