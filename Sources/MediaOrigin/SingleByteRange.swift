import HTTPToolkit

/// One `bytes=` range of a `Range` header (RFC 9110 §14.1.2) against a representation of known
/// size; the demo origin answers a single range and ignores lists of several.
enum SingleByteRange: Equatable {
    /// Absent, malformed or several ranges: the whole representation.
    case none
    /// No byte of the representation is in the range.
    case unsatisfiable
    case range(Range<Int>)

    init(_ header: String, size: Int) {
        let value = header.trimmingOWS()
        guard value.lowercased().hasPrefix("bytes="), !value.contains(",") else {
            self = .none
            return
        }
        let spec = value.dropFirst("bytes=".count).trimmingOWS()
        guard let dash = spec.firstIndex(of: "-") else {
            self = .none
            return
        }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last), suffix >= 0 else {
                self = .none
                return
            }
            self = suffix == 0 || size == 0 ? .unsatisfiable : .range(max(0, size - suffix)..<size)
            return
        }
        guard let start = Int(first), start >= 0, last.isEmpty || Int(last) != nil else {
            self = .none
            return
        }
        let end = last.isEmpty ? size - 1 : min(Int(last)!, size - 1)
        guard end >= start else {
            self = Int(last).map { $0 < start } == true ? .none : .unsatisfiable
            return
        }
        self = .range(start..<end + 1)
    }
}
