import HTTPToolkit
import NIOHTTP1

extension StoredResponse {
    /// Status codes that are heuristically cacheable / cacheable by default (RFC 9110 §15.1).
    package static let cacheableByDefaultStatuses: Set<Int> = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]

    /// The header times freshness and age depend on, parsed once when the headers are set so
    /// that a hit parses no date.
    package struct Times: Sendable, Equatable {
        /// The `Date` value (RFC 9110 §6.6.1); the response time when absent or invalid.
        package var date: Int64
        /// The `Age` value (RFC 9111 §5.1): the first list member, 0 when invalid.
        package var age: Int64
        /// The `Expires` time (RFC 9111 §5.3); far in the past when invalid (e.g. "0") or
        /// repeated with different values (§4.2.1); `nil` when absent.
        package var expires: Int64?
        /// The `Last-Modified` time, if present and valid.
        package var lastModified: Int64?

        /// - Parameter ignoringExpires: a targeted field gave the directives (RFC 9213 §2.1).
        init(headers: HTTPHeaders, responseTime: Int64, ignoringExpires: Bool = false) {
            date = headers.first(name: "date").flatMap { HTTPDate.parse($0, now: responseTime) } ?? responseTime
            age = Self.parseAge(headers.first(name: "age"))
            let expiresLines = ignoringExpires ? [] : headers["expires"]
            if let first = expiresLines.first {
                let consistent = !expiresLines.contains { $0 != first }
                expires = consistent ? HTTPDate.parse(first, now: responseTime) ?? Int64.min / 2 : Int64.min / 2
            } else {
                expires = nil
            }
            lastModified = headers.first(name: "last-modified").flatMap { HTTPDate.parse($0, now: responseTime) }
        }

        private static func parseAge(_ line: String?) -> Int64 {
            guard let line, let first = HTTPListParser.elements(line).first,
                first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            else { return 0 }
            return first.utf8.reduce(Int64(0)) { min($0 * 10 + Int64($1 - 0x30), 2_147_483_648) }
        }
    }

    /// The `Date` value (RFC 9110 §6.6.1); the response time when absent or invalid.
    package var dateValue: Int64 { times.date }

    /// The `Age` value (RFC 9111 §5.1): the first list member, ignored when invalid.
    package var ageValue: Int64 { times.age }

    /// The freshness lifetime (RFC 9111 §4.2.1), in seconds, or 0 when the response is stale
    /// on arrival; heuristic freshness (§4.2.2) only for cacheable-by-default statuses or `public`.
    package func freshnessLifetime(_ configuration: CacheConfiguration) -> Int64 {
        if configuration.isShared, let sMaxAge = cacheControl.sharedMaxAge { return sMaxAge.secondsOrZero }
        if let maxAge = cacheControl.maxAge { return maxAge.secondsOrZero }
        if let expires = times.expires {
            return max(0, expires - dateValue)
        }
        guard Self.cacheableByDefaultStatuses.contains(status) || cacheControl.isPublic,
            let lastModified = times.lastModified
        else { return 0 }
        let sinceModified = dateValue - lastModified
        guard sinceModified > 0 else { return 0 }
        return min(configuration.heuristicLimit, Int64(Double(sinceModified) * configuration.heuristicFraction))
    }

    /// Whether the response states its expiry (`s-maxage` in a shared cache, `max-age`, or `Expires`).
    package func hasExplicitFreshness(_ configuration: CacheConfiguration) -> Bool {
        (configuration.isShared && cacheControl.sharedMaxAge != nil) || cacheControl.maxAge != nil
            || times.expires != nil
    }

    /// The current age (RFC 9111 §4.2.3) at `now`.
    package func currentAge(now: Int64) -> Int64 {
        let apparentAge = max(0, responseTime - dateValue)
        let responseDelay = max(0, responseTime - requestTime)
        let correctedAgeValue = ageValue + responseDelay
        let correctedInitialAge = max(apparentAge, correctedAgeValue)
        let residentTime = max(0, now - responseTime)
        return correctedInitialAge + residentTime
    }

    /// Whether the response may never be served stale by this cache (RFC 9111 §4.2.4):
    /// `must-revalidate`, or in a shared cache `proxy-revalidate` or `s-maxage` (§5.2.2.10).
    package func forbidsStale(_ configuration: CacheConfiguration) -> Bool {
        cacheControl.mustRevalidate
            || (configuration.isShared && (cacheControl.proxyRevalidate || cacheControl.sharedMaxAge != nil))
    }
}
