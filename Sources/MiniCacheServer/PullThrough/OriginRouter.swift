import HTTPToolkit
import SystemPackage

/// Which origin a request goes to: rules matching the request's `Host` and/or a path prefix,
/// the longest matching prefix winning (a rule naming the host beats one that does not at equal
/// length), and a default.
///
/// The `--origins FILE` format, one rule a line (`#` starts a comment):
///
/// ```
/// default               http://origin.example:8080
/// /live/                http://live-origin:80
/// video.example         http://vod-origin:80
/// video.example/4k/     http://big-origin:80
/// ```
package struct OriginRouter: Sendable, Equatable {
    /// One rule.
    package struct Rule: Sendable, Equatable {
        /// Lower-cased host name without port; nil matches any host.
        package var host: String?
        /// Path prefix (starts with `/`); `/` matches every path.
        package var prefix: String
        package var origin: OriginAddress
    }

    package private(set) var rules: [Rule]

    /// A router sending everything to `origin`.
    package init(origin: OriginAddress) {
        self.rules = [Rule(host: nil, prefix: "/", origin: origin)]
    }

    package init(rules: [Rule]) {
        self.rules = rules
    }

    /// The origin for a request with `host` (the `Host` field, port ignored) and `target`
    /// (path and query); nil when no rule matches.
    package func origin(host: String?, target: String) -> OriginAddress? {
        var hostName = host?.lowercased()
        if let name = hostName, !name.hasPrefix("["), let colon = name.lastIndex(of: ":") { hostName = String(name[..<colon]) }
        var best: Rule?
        var bestScore = -1
        for rule in self.rules where target.hasPrefix(rule.prefix) {
            if let ruleHost = rule.host, ruleHost != hostName { continue }
            let score = rule.prefix.utf8.count * 2 + (rule.host == nil ? 0 : 1)
            if score > bestScore {
                best = rule
                bestScore = score
            }
        }
        return best?.origin
    }

    /// Parses an origins file.
    /// - Throws: ``MiniCacheError`` naming the line that is wrong and why.
    package static func parse(_ text: String, file: String) throws(MiniCacheError) -> OriginRouter {
        var rules: [Rule] = []
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            func bad(_ why: String) -> MiniCacheError {
                MiniCacheError(.configuration, "\(file):\(number): \(why); a line is `MATCH http://host[:port]` where MATCH is default, /prefix, host or host/prefix (https:// origins too)")
            }
            guard words.count == 2 else { throw bad("expected two words, found \(words.count)") }
            let origin: OriginAddress
            do { origin = try Self.originAddress(String(words[1])) } catch { throw bad("\(error.message)") }
            let match = String(words[0])
            var rule: Rule
            if match == "default" {
                rule = Rule(host: nil, prefix: "/", origin: origin)
            } else if match.hasPrefix("/") {
                rule = Rule(host: nil, prefix: match, origin: origin)
            } else {
                let slash = match.firstIndex(of: "/") ?? match.endIndex
                let host = match[..<slash].lowercased()
                guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
                    throw bad("'\(match)' is not a host name or a /path prefix")
                }
                rule = Rule(host: host, prefix: slash == match.endIndex ? "/" : String(match[slash...]), origin: origin)
            }
            if rules.contains(where: { $0.host == rule.host && $0.prefix == rule.prefix }) {
                throw bad("'\(match)' is given twice")
            }
            rule.prefix = rule.prefix.isEmpty ? "/" : rule.prefix
            rules.append(rule)
        }
        guard !rules.isEmpty else {
            throw MiniCacheError(.configuration, "\(file): no rules; add at least `default http://host[:port]`")
        }
        return OriginRouter(rules: rules)
    }

    /// `http://host[:port]` or `https://host[:port]` without a path (a lone `/` is allowed), read
    /// by ``HTTPURL``'s rules.
    package static func originAddress(_ url: String) throws(MiniCacheError) -> OriginAddress {
        let parsed: HTTPURL
        do { parsed = try HTTPURL(url, schemes: [.http, .https]) } catch { throw MiniCacheError(.configuration, "\(error)") }
        guard parsed.path == "/", !url.hasSuffix("?") else {
            throw MiniCacheError(.configuration, "'\(url)' must be http(s)://host[:port] without a path")
        }
        return parsed.address
    }
}

extension OriginRouter {
    /// Whether any rule's origin speaks HTTPS.
    package var hasSecureOrigin: Bool { self.rules.contains { $0.origin.isSecure } }

    /// The router `--origin` or `--origins` names: an `http(s)://host[:port]` URL (one origin for
    /// everything), or else the path of an origins file.
    package static func load(_ origin: String) throws(MiniCacheError) -> OriginRouter {
        if origin.lowercased().hasPrefix("http://") || origin.lowercased().hasPrefix("https://") {
            do { return OriginRouter(origin: try Self.originAddress(origin)) } catch {
                throw MiniCacheError(.configuration, "--origin \(error.message); give it as http://host[:port] or https://host[:port]")
            }
        }
        let text: String
        do {
            let fd = try FileDescriptor.open(FilePath(origin), .readOnly)
            defer { try? fd.close() }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
                if n == 0 { break }
                bytes += chunk[0..<n]
                if bytes.count > 1 << 20 { throw Errno.fileTooLarge }
            }
            text = String(decoding: bytes, as: UTF8.self)
        } catch {
            throw MiniCacheError(.configuration, "cannot read the origins file \(origin): \(error)", underlying: error)
        }
        return try Self.parse(text, file: origin)
    }
}
