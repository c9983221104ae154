import NIOHTTP1

extension StoredResponse {
    /// Status codes that are heuristically cacheable / cacheable by default (RFC 9110 §15.1).
    package static let cacheableByDefaultStatuses: Set<Int> = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]

    /// The `Date` value (RFC 9110 §6.6.1); the response time when absent or invalid.
    package var dateValue: Int64 {
        headers.first(name: "date").flatMap { HTTPDate.parse($0, now: responseTime) } ?? responseTime
    }

    /// The `Age` value (RFC 9111 §5.1): the first list member, ignored when invalid.
    package var ageValue: Int64 {
        guard let line = headers.first(name: "age"),
            let first = HTTPListParser.elements(Substring(line)).first,
            !first.isEmpty, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return 0 }
        return first.utf8.reduce(Int64(0)) { min($0 * 10 + Int64($1 - 0x30), 2_147_483_648) }
    }

    /// The freshness lifetime (RFC 9111 §4.2.1), in seconds, or 0 when the response is stale
    /// on arrival; heuristic freshness (§4.2.2) only for cacheable-by-default statuses or `public`.
    package func freshnessLifetime(_ configuration: CacheConfiguration) -> Int64 {
        if configuration.isShared, let sMaxAge = cacheControl.sharedMaxAge { return sMaxAge.secondsOrZero }
        if let maxAge = cacheControl.maxAge { return maxAge.secondsOrZero }
        if let expires = explicitExpires {
            return max(0, expires - dateValue)
        }
        guard Self.cacheableByDefaultStatuses.contains(status) || cacheControl.isPublic,
            let lastModified = lastModified.flatMap({ HTTPDate.parse($0, now: responseTime) })
        else { return 0 }
        let sinceModified = dateValue - lastModified
        guard sinceModified > 0 else { return 0 }
        return min(configuration.heuristicLimit, Int64(Double(sinceModified) * configuration.heuristicFraction))
    }

    /// Whether the response states its expiry (`s-maxage` in a shared cache, `max-age`, or `Expires`).
    package func hasExplicitFreshness(_ configuration: CacheConfiguration) -> Bool {
        (configuration.isShared && cacheControl.sharedMaxAge != nil) || cacheControl.maxAge != nil
            || headers.contains(name: "expires")
    }

    /// The `Expires` time; an invalid value (e.g. "0") is a time in the past (RFC 9111 §5.3),
    /// and several differing lines make the response stale (§4.2.1).
    var explicitExpires: Int64? {
        let lines = headers["expires"]
        guard let first = lines.first else { return nil }
        if lines.contains(where: { $0 != first }) { return Int64.min / 2 }
        return HTTPDate.parse(first, now: responseTime) ?? Int64.min / 2
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
