#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SHFS
import SystemPackage

/// Terminal output helpers for the subcommands.
enum Output {
    static func error(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { _ = try? FileDescriptor.standardError.writeAll(UnsafeRawBufferPointer($0)) }
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// `1.5M`-style sizes.
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var v = Double(bytes)
        var u = 0
        while v >= 1024, u < units.count - 1 {
            v /= 1024
            u += 1
        }
        if u == 0 { return "\(bytes)B" }
        return v >= 10 ? "\(Int(v.rounded()))\(units[u])" : "\(Double(Int(v * 10)) / 10)\(units[u])"
    }

    /// `YYYY-MM-DD HH:MM` in UTC.
    static func date(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min))"
    }

    /// Flags as a short column: `D` default, `H` hidden, `L` link.
    static func flags(_ f: Entry.Flags) -> String {
        (f.contains(.isDefault) ? "D" : "-") + (f.contains(.hidden) ? "H" : "-") + (f.contains(.link) ? "L" : "-")
    }

    /// A JSON string literal.
    static func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let n = s.count
        guard n < width else { return s }
        let fill = String(repeating: " ", count: width - n)
        return left ? fill + s : s + fill
    }

    /// Seconds on the monotonic clock.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A one-line progress bar redrawn on standard error (only when it is a terminal).
struct ProgressBar {
    private let enabled = Output.stderrIsTerminal
    private let start = Output.now()
    private var lastDraw = 0.0

    mutating func update(_ p: ImportProgress) {
        guard enabled else { return }
        let t = Output.now()
        guard t - lastDraw >= 0.1 || p.filesDone == p.filesTotal else { return }
        lastDraw = t
        let fraction = p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : Double(p.filesDone) / Double(max(p.filesTotal, 1))
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = Double(p.bytesDone) / max(t - start, 1e-6)
        var name = p.currentName
        if name.count > 30 { name = "…" + name.suffix(29) }
        let line = "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(Int(fraction * 100))% \(p.filesDone)/\(p.filesTotal) files \(Output.size(p.bytesDone))/\(Output.size(p.bytesTotal)) \(Output.size(Int64(rate)))/s \(name)\u{1B}[K"
        var text = line
        text.withUTF8 { _ = try? FileDescriptor.standardError.writeAll(UnsafeRawBufferPointer($0)) }
    }

    func finish() {
        guard enabled else { return }
        Output.error("")
    }
}
