import HTTPToolkit
import NIOHTTP1

/// A response field that carries cache directives for a class of caches only (RFC 9213), which
/// a cache of that class obeys instead of `Cache-Control` and `Expires`.
package enum TargetedField: String, Sendable, CaseIterable {
    /// `CDN-Cache-Control` (RFC 9213 §3): a Dictionary Structured Field for CDN caches.
    case cdnCacheControl = "cdn-cache-control"
    /// `Surrogate-Control` (W3C Edge Architecture 1.0): comma-separated directives for surrogates,
    /// each optionally aimed at one surrogate with `;token`.
    case surrogateControl = "surrogate-control"

    /// The lower-case field name.
    package var name: String { rawValue }

    /// The device token of this cache in `Surrogate-Control` (`max-age=60;minicache`) and in the
    /// `Surrogate-Capability` it announces.
    package static let surrogateToken = "minicache"

    /// The cache directives this field gives this cache, or nil when the field is absent,
    /// invalid or empty, in which case `Cache-Control` applies (RFC 9213 §2.1).
    package func directives(in headers: HTTPHeaders) -> CacheControl? {
        let lines = headers[name]
        guard !lines.isEmpty else { return nil }
        switch self {
        case .cdnCacheControl: return Self.dictionaryDirectives(lines)
        case .surrogateControl: return Self.surrogateDirectives(lines, token: Self.surrogateToken)
        }
    }

    /// The first field of `targets` that gives directives (RFC 9213 §2.1: "the first ... with a
    /// valid, non-empty value").
    package static func select(_ targets: [TargetedField], in headers: HTTPHeaders) -> (field: TargetedField, directives: CacheControl)? {
        for target in targets {
            if let directives = target.directives(in: headers) { return (target, directives) }
        }
        return nil
    }

    /// Directives whose argument is delta-seconds: an sf-integer.
    private static let integerDirectives: Set<String> = ["max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"]
    /// Directives that may name fields: `true` or an sf-string.
    private static let qualifiedDirectives: Set<String> = ["no-cache", "private"]
    /// Directives without an argument: `true`.
    private static let flagDirectives: Set<String> = [
        "no-store", "public", "must-revalidate", "proxy-revalidate", "must-understand", "no-transform", "immutable",
    ]

    /// RFC 9213 §2.2: the field is a Dictionary; a directive of the wrong type makes the whole
    /// field invalid, unknown keys are extensions and ignored.
    private static func dictionaryDirectives(_ lines: [String]) -> CacheControl? {
        guard let dictionary = StructuredFieldDictionary(lines: lines), !dictionary.members.isEmpty else { return nil }
        var directives: [CacheControl.Directive] = []
        for (key, value) in dictionary.members {
            if integerDirectives.contains(key) {
                guard case .integer(let seconds) = value, seconds >= 0 else { return nil }
                directives.append(.init(name: key, argument: String(seconds)))
            } else if qualifiedDirectives.contains(key) {
                switch value {
                case .boolean(true): directives.append(.init(name: key, argument: nil))
                case .string(let fields): directives.append(.init(name: key, argument: fields))
                case .boolean(false): continue
                default: return nil
                }
            } else if flagDirectives.contains(key) {
                guard case .boolean(let on) = value else { return nil }
                if on { directives.append(.init(name: key, argument: nil)) }
            } else {
                directives.append(.init(name: key, argument: nil))
            }
        }
        return CacheControl(targeted: directives)
    }

    /// `max-age=N[+M]`, `no-store`, `no-store-remote` (this cache is remote from the origin),
    /// each optionally followed by `;token`: directives aimed at another surrogate are skipped;
    /// `content` and unknown directives are ignored.
    private static func surrogateDirectives(_ lines: [String], token: String) -> CacheControl? {
        var directives: [CacheControl.Directive] = []
        for line in lines {
            for element in HTTPListParser.elements(Substring(line)) {
                var text = element.trimmingOWS()
                if let semicolon = text.firstIndex(of: ";") {
                    guard text[text.index(after: semicolon)...].trimmingOWS().lowercased() == token.lowercased() else { continue }
                    text = text[..<semicolon].trimmingOWS()
                }
                let parts = text.split(separator: "=", maxSplits: 1)
                let name = parts.first.map { $0.trimmingOWS().lowercased() } ?? ""
                switch name {
                case "max-age":
                    guard parts.count == 2 else { return nil }
                    let seconds = parts[1].split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                    directives.append(.init(name: "max-age", argument: String(seconds.trimmingOWS())))
                case "no-store", "no-store-remote":
                    directives.append(.init(name: "no-store", argument: nil))
                default:
                    continue
                }
            }
        }
        return directives.isEmpty ? nil : CacheControl(targeted: directives)
    }
}
