import HTTPToolkit
import NIOHTTP1

extension CacheRules {
    /// Decides how to answer `request` from `stored` at `now` (RFC 9111 §4, RFC 5861).
    ///
    /// The caller looked `stored` up by the request's cache key; this checks the method, `Vary`,
    /// freshness, and the request and response directives.
    package func decide(request: HTTPRequestHead, stored: StoredResponse?, now: Int64) -> CacheDecision {
        let requestCC = Self.requestCacheControl(request.headers)
        guard request.method == .GET || request.method == .HEAD,
            let stored, stored.varyMatches(request.headers)
        else {
            return requestCC.onlyIfCached ? .gatewayTimeout : .miss
        }

        let age = stored.currentAge(now: now)
        let lifetime = stored.freshnessLifetime(configuration)
        let conditions = validationHeaders(for: stored)
        let revalidation: CacheDecision = requestCC.onlyIfCached ? .gatewayTimeout : .revalidate(conditions: conditions)

        if stored.cacheControl.noCache || requestCC.noCache { return revalidation }
        // Ages are whole seconds: a response of age "0" may be most of a second old, so
        // `max-age=0` (the usual "reload") always goes to the origin.
        if let maxAge = requestCC.maxAge, age > maxAge.secondsOrZero || maxAge.secondsOrZero == 0 { return revalidation }

        if age < lifetime {
            if let minFresh = requestCC.minFresh, lifetime - age < minFresh.secondsOrZero { return revalidation }
            return .fresh(age: age)
        }

        let staleness = age - lifetime
        if stored.forbidsStale(configuration) { return revalidation }
        if let maxStale = requestCC.maxStale, staleness <= maxStale.secondsOrZero {
            return .staleAcceptedByRequest(age: age)
        }
        if !requestCC.onlyIfCached, let window = stored.cacheControl.staleWhileRevalidate,
            staleness <= window.secondsOrZero
        {
            return .staleWhileRevalidate(age: age, conditions: conditions)
        }
        return revalidation
    }

    /// Whether a stale `stored` response may be served because the origin failed (connection
    /// error, timeout, or a 500, 502, 503 or 504), per `stale-if-error` in the response or
    /// the request (RFC 5861 §4) or the request's `max-stale`, unless stale serving is
    /// forbidden (RFC 9111 §4.2.4).
    ///
    /// - Parameter disconnected: the origin could not be reached or gave no answer. A cache
    ///   that is disconnected may serve stale without explicit permission (RFC 9111 §4, §4.2.4),
    ///   up to ``staleWhenDisconnectedLimit`` past its freshness, unless the request asks for
    ///   a fresh answer (`no-cache`, `max-age`, `min-fresh`).
    package func mayServeStaleOnError(request: HTTPRequestHead, stored: StoredResponse, now: Int64, disconnected: Bool = false) -> Bool {
        guard stored.varyMatches(request.headers), !stored.cacheControl.noCache, !stored.forbidsStale(configuration) else {
            return false
        }
        let staleness = max(0, stored.currentAge(now: now) - stored.freshnessLifetime(configuration))
        let requestCC = Self.requestCacheControl(request.headers)
        let windows = [stored.cacheControl.staleIfError, requestCC.staleIfError, requestCC.maxStale]
        if windows.contains(where: { window in window.map { staleness <= $0.secondsOrZero } ?? false }) { return true }
        guard disconnected, requestCC.maxStale == nil, requestCC.staleIfError == nil else { return false }
        return !requestCC.noCache && requestCC.maxAge == nil && requestCC.minFresh == nil && staleness <= Self.staleWhenDisconnectedLimit
    }

    /// How long past its freshness a stored response may be served while the origin cannot be
    /// reached and nothing explicitly permits it: one day.
    package static let staleWhenDisconnectedLimit: Int64 = 86_400

    /// Whether an origin status counts as an error for `stale-if-error` (RFC 5861 §4).
    package static func isErrorStatus(_ status: HTTPResponseStatus) -> Bool {
        [500, 502, 503, 504].contains(status.code)
    }

    /// The header fields of a stored response to send when it is reused without revalidation:
    /// the stored fields minus those named by a qualified `no-cache` (RFC 9111 §5.2.2.4), with
    /// `Age` set to `age` (§5.1).
    package func headersForReuse(_ stored: StoredResponse, age: Int64) -> HTTPHeaders {
        var headers = stored.headers
        for name in stored.cacheControl.noCacheFields { headers.remove(name: name) }
        headers.replaceOrAdd(name: "age", value: String(age))
        return headers
    }

    /// The request's `Cache-Control`, or `no-cache` for a request carrying only
    /// `Pragma: no-cache` (RFC 9111 §5.4).
    static func requestCacheControl(_ headers: HTTPHeaders) -> CacheControl {
        if !headers.contains(name: "cache-control"),
            headers["pragma"].contains(where: { line in
                HTTPListParser.elements(Substring(line)).contains { $0.lowercased() == "no-cache" }
            })
        {
            return CacheControl("no-cache")
        }
        return CacheControl(headers: headers)
    }
}
