import HTTPToolkit
import NIOHTTP1

/// The directives of the `Cache-Control` fields of a request or a response (RFC 9111 §5.2).
///
/// Parsing is lenient where the RFC asks recipients to be (quoted arguments of numeric
/// directives, any case for names, several field lines, unknown extensions kept) and strict on
/// values: a numeric directive whose argument is not a non-negative integer is recorded as
/// ``Seconds/invalid`` so freshness logic can treat the response as stale (§4.2.1).
package struct CacheControl: Sendable, Equatable {
    /// The argument of a delta-seconds directive (RFC 9111 §1.2.2).
    package enum Seconds: Sendable, Equatable {
        /// A valid value, capped at 2^31 as §1.2.2 asks.
        case value(Int64)
        /// Present with a missing or non-numeric argument, or repeated with differing values.
        case invalid

        /// The value, or 0 for an invalid one (an invalid lifetime makes a response stale).
        package var secondsOrZero: Int64 {
            if case .value(let v) = self { return v }
            return 0
        }
    }

    /// One directive as received: a lower-cased name and its argument, unquoted.
    package struct Directive: Sendable, Equatable {
        package var name: String
        package var argument: String?

        /// Creates a directive.
        package init(name: String, argument: String?) {
            self.name = name
            self.argument = argument
        }
    }

    /// Every directive in order of appearance, including extensions this type does not interpret.
    package private(set) var directives: [Directive] = []

    /// `max-age` (request and response).
    package private(set) var maxAge: Seconds?
    /// `s-maxage` (response, shared caches only).
    package private(set) var sharedMaxAge: Seconds?
    /// `max-stale` (request); `.value(Int64.max)` when given without an argument.
    package private(set) var maxStale: Seconds?
    /// `min-fresh` (request).
    package private(set) var minFresh: Seconds?
    /// `stale-while-revalidate` (response, RFC 5861 §3).
    package private(set) var staleWhileRevalidate: Seconds?
    /// `stale-if-error` (request and response, RFC 5861 §4).
    package private(set) var staleIfError: Seconds?

    /// `no-cache` without field names.
    package private(set) var noCache = false
    /// Field names of a qualified `no-cache="..."` (response): they must not be sent without revalidation.
    package private(set) var noCacheFields: [String] = []
    /// `no-store`.
    package private(set) var noStore = false
    /// `private` without field names.
    package private(set) var isPrivate = false
    /// Field names of a qualified `private="..."`: a shared cache must not store them.
    package private(set) var privateFields: [String] = []
    /// `public`.
    package private(set) var isPublic = false
    /// `must-revalidate`.
    package private(set) var mustRevalidate = false
    /// `proxy-revalidate`.
    package private(set) var proxyRevalidate = false
    /// `must-understand`.
    package private(set) var mustUnderstand = false
    /// `no-transform`.
    package private(set) var noTransform = false
    /// `immutable` (RFC 8246).
    package private(set) var immutable = false
    /// `only-if-cached` (request).
    package private(set) var onlyIfCached = false

    /// An empty set of directives.
    package init() {}

    /// Parses every `Cache-Control` field line of `headers`.
    package init(headers: HTTPHeaders) {
        self.init()
        for line in headers["cache-control"] {
            parse(Substring(line))
        }
    }

    /// Parses one or more field values, e.g. `max-age=60, no-cache="set-cookie"`.
    package init(_ values: String...) {
        self.init()
        for value in values { parse(Substring(value)) }
    }

    /// The response directives of a targeted field (``TargetedField``), already split and typed.
    package init(targeted directives: [Directive]) {
        self.init()
        for directive in directives {
            self.directives.append(directive)
            apply(directive)
        }
    }

    /// Whether the directive `name` (lower case) is present, including unknown extensions.
    package func contains(_ name: String) -> Bool {
        directives.contains { $0.name == name }
    }

    private mutating func parse(_ value: Substring) {
        for element in HTTPListParser.elements(value) {
            guard let directive = Self.directive(from: element) else { continue }
            directives.append(directive)
            apply(directive)
        }
    }

    private static func directive(from element: Substring) -> Directive? {
        guard let eq = element.firstIndex(of: "=") else {
            let name = element.trimmingOWS()
            return name.isEmpty ? nil : Directive(name: name.lowercased(), argument: nil)
        }
        let name = element[..<eq].trimmingOWS()
        guard !name.isEmpty else { return nil }
        let rawArgument = element[element.index(after: eq)...].trimmingOWS()
        return Directive(name: name.lowercased(), argument: HTTPListParser.unquote(rawArgument))
    }

    private mutating func apply(_ directive: Directive) {
        switch directive.name {
        case "max-age": merge(&maxAge, Self.seconds(directive.argument))
        case "s-maxage": merge(&sharedMaxAge, Self.seconds(directive.argument))
        case "min-fresh": merge(&minFresh, Self.seconds(directive.argument))
        case "stale-while-revalidate": merge(&staleWhileRevalidate, Self.seconds(directive.argument))
        case "stale-if-error": merge(&staleIfError, Self.seconds(directive.argument))
        case "max-stale":
            merge(&maxStale, directive.argument == nil ? .value(Int64.max) : Self.seconds(directive.argument))
        case "no-cache": Self.applyQualified(directive.argument, flag: &noCache, fields: &noCacheFields)
        case "private": Self.applyQualified(directive.argument, flag: &isPrivate, fields: &privateFields)
        case "no-store": noStore = true
        case "public": isPublic = true
        case "must-revalidate": mustRevalidate = true
        case "proxy-revalidate": proxyRevalidate = true
        case "must-understand": mustUnderstand = true
        case "no-transform": noTransform = true
        case "immutable": immutable = true
        case "only-if-cached": onlyIfCached = true
        default: break
        }
    }

    // RFC 9111 §4.2.1: a repeated directive with a different value makes the information
    // invalid, which the freshness rules treat as stale.
    private func merge(_ slot: inout Seconds?, _ new: Seconds) {
        guard let old = slot else {
            slot = new
            return
        }
        if old != new { slot = .invalid }
    }

    private static func seconds(_ argument: String?) -> Seconds {
        guard let argument, !argument.isEmpty else { return .invalid }
        var value: Int64 = 0
        for byte in argument.utf8 {
            guard byte >= 0x30, byte <= 0x39 else { return .invalid }
            value = min(value * 10 + Int64(byte - 0x30), 2_147_483_648)
        }
        return .value(value)
    }

    // `no-cache` and `private` without an argument (or with an empty list) apply to the whole
    // response; with field names, to those fields only.
    private static func applyQualified(_ argument: String?, flag: inout Bool, fields: inout [String]) {
        let names = argument.map(fieldNames) ?? []
        if names.isEmpty { flag = true } else { fields += names }
    }

    private static func fieldNames(_ argument: String) -> [String] {
        HTTPListParser.elements(Substring(argument)).map { String($0.trimmingOWS()).lowercased() }.filter { !$0.isEmpty }
    }
}
