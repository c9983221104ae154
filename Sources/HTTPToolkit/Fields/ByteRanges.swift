/// A `Range` request (RFC 9110 §14.2) resolved against a representation length.
package enum ByteRanges: Sendable, Equatable {
    /// No usable range: send the whole representation (invalid or unsupported ranges are ignored).
    case whole
    /// Satisfiable ranges, each `start..<end`, in request order.
    case ranges([Range<Int64>])
    /// Syntactically valid, but no range overlaps the representation: 416.
    case unsatisfiable

    /// More ranges than this, or overlapping ranges, are served as the whole representation.
    package static let maxRanges = 32

    /// Resolves a `Range` field value for a representation of `length` bytes.
    package static func resolve(_ value: some Collection<UInt8>, length: Int64) -> ByteRanges {
        let bytes = Array(value)
        guard bytes.count > 6, String(decoding: bytes[0..<6], as: UTF8.self).lowercased() == "bytes=" else {
            return .whole
        }
        var result: [Range<Int64>] = []
        var specs = 0
        for rawSpec in bytes[6...].split(separator: 44, omittingEmptySubsequences: false) {
            let spec = rawSpec.drop { $0 == 32 || $0 == 9 }.reversed().drop { $0 == 32 || $0 == 9 }.reversed()
            if spec.isEmpty { continue }
            specs += 1
            if specs > Self.maxRanges { return .whole }
            guard let dash = spec.firstIndex(of: 45) else { return .whole }
            let first = spec[spec.startIndex..<dash]
            let last = spec[spec.index(after: dash)...]
            if first.isEmpty {
                guard let suffix = Self.number(last) else { return .whole }
                if suffix == 0 || length == 0 { continue }
                result.append(max(0, length - suffix)..<length)
            } else {
                guard let start = Self.number(first) else { return .whole }
                var end = length - 1
                if !last.isEmpty {
                    guard let e = Self.number(last), e >= start else { return .whole }
                    end = min(e, length - 1)
                }
                if start >= length { continue }
                result.append(start..<(end + 1))
            }
        }
        if specs == 0 { return .whole }
        if result.isEmpty { return .unsatisfiable }
        // Overlapping ranges can amplify a response; serve the whole representation instead.
        let sorted = result.sorted { $0.lowerBound < $1.lowerBound }
        for k in sorted.indices.dropFirst() where sorted[k].lowerBound < sorted[k - 1].upperBound { return .whole }
        return .ranges(result)
    }

    private static func number(_ s: some Collection<UInt8>) -> Int64? {
        guard !s.isEmpty, s.count <= 18 else { return nil }
        var v: Int64 = 0
        for c in s {
            guard c &- 48 < 10 else { return nil }
            v = v * 10 + Int64(c &- 48)
        }
        return v
    }
}
