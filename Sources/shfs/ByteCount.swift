import ArgumentParser

/// A size in bytes given as `4096`, `64K`, `64M`, `2G`, `1T` (binary multiples; `64MiB` and `64MB` also work).
struct ByteCount: ExpressibleByArgument, Sendable {
    var bytes: Int64

    init?(argument: String) {
        var text = argument.uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text.removeLast(suffix.count)
            break
        }
        var shift: Int64 = 0
        if let last = text.last, let s = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            shift = Int64(s)
            text.removeLast()
        }
        guard let n = Int64(text), n > 0, n <= Int64.max >> shift else { return nil }
        bytes = n << shift
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
