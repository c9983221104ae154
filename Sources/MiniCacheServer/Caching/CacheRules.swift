import NIOHTTP1

/// The RFC 9111 rules of an HTTP cache as pure functions: whether to store a response (§3),
/// whether and how to reuse one (§4), revalidation (§4.3), and invalidation (§4.4).
///
/// No I/O and no clock: every time is passed in, in seconds since the epoch.
package struct CacheRules: Sendable {
    /// The choices the RFC leaves to the cache.
    package var configuration: CacheConfiguration

    /// Creates the rules.
    package init(configuration: CacheConfiguration = CacheConfiguration()) {
        self.configuration = configuration
    }

    /// Why a response is not stored.
    package enum NotStorableReason: Sendable, Equatable {
        /// Only GET responses are stored (RFC 9111 §3, "request method is understood"; HEAD
        /// responses have no body to store).
        case method
        /// The status is not final, not understood, 304, or a 206 the cache cannot keep (§3, §3.3).
        case status
        /// `no-store` in the request or the response (§5.2.1.5, §5.2.2.5).
        case noStore
        /// `private` in a shared cache (§5.2.2.7).
        case `private`
        /// The request had `Authorization` and the response does not allow sharing (§3.5).
        case authorization
        /// No explicit freshness, no `public`, and a status that is not cacheable by default (§3).
        case notCacheableByDefault
        /// `Vary: *` can never be matched (§4.1).
        case varyWildcard
        /// Neither freshness information, a cacheable-by-default status nor a validator, and
        /// ``CacheConfiguration/storesUnvalidatableResponses`` is off.
        case unvalidatable
    }

    /// The verdict on a response.
    package enum Storability: Sendable, Equatable {
        /// Store it.
        case store
        /// Do not store it.
        case doNotStore(NotStorableReason)
    }

    /// Whether the response to `request` may be stored (RFC 9111 §3).
    ///
    /// Only GET responses are stored: HEAD shares GET's key and a stored HEAD response has no
    /// body to answer a GET; a HEAD response may instead refresh a stored GET response through
    /// ``updating(_:with:requestTime:responseTime:)`` (RFC 9111 §4.3.5).
    package func storability(request: HTTPRequestHead, response: HTTPResponseHead) -> Storability {
        guard request.method == .GET else { return .doNotStore(.method) }
        let status = Int(response.status.code)
        guard Self.understoodStatuses.contains(status), status != 304 else { return .doNotStore(.status) }
        if status == 206 {
            // One byte range of a representation of known length, or nothing to serve ranges from.
            guard configuration.storesPartialContent,
                response.headers.first(name: "content-range").flatMap(ContentRange.init)?.completeLength != nil
            else { return .doNotStore(.status) }
        }

        let targeted = TargetedField.select(configuration.targetedFields, in: response.headers)
        let responseCC = targeted?.directives ?? CacheControl(headers: response.headers)
        let requestCC = CacheControl(headers: request.headers)
        if requestCC.noStore { return .doNotStore(.noStore) }
        // §5.2.2.3: a cache that understands the status code ignores no-store under must-understand.
        if responseCC.noStore && !responseCC.mustUnderstand { return .doNotStore(.noStore) }
        if configuration.isShared && responseCC.isPrivate { return .doNotStore(.private) }
        if configuration.isShared && request.headers.contains(name: "authorization")
            && !(responseCC.mustRevalidate || responseCC.isPublic || responseCC.sharedMaxAge != nil)
        {
            return .doNotStore(.authorization)
        }
        if VarySelector(responseHeaders: response.headers).isWildcard { return .doNotStore(.varyWildcard) }

        let explicitFreshness =
            responseCC.maxAge != nil || (targeted == nil && response.headers.contains(name: "expires"))
            || (configuration.isShared && responseCC.sharedMaxAge != nil)
        let byDefault = StoredResponse.cacheableByDefaultStatuses.contains(status)
        let allowedWithoutFreshness = responseCC.isPublic || (!configuration.isShared && responseCC.isPrivate)
        guard explicitFreshness || byDefault || allowedWithoutFreshness else { return .doNotStore(.notCacheableByDefault) }

        if !configuration.storesUnvalidatableResponses {
            let hasValidator = response.headers.contains(name: "etag") || response.headers.contains(name: "last-modified")
            let stored = StoredResponse(
                requestHeaders: request.headers, response: response, requestTime: 0, responseTime: 0,
                isShared: configuration.isShared, targets: configuration.targetedFields)
            if !hasValidator && stored.freshnessLifetime(configuration) == 0 && responseCC.staleWhileRevalidate == nil
                && responseCC.staleIfError == nil
            {
                return .doNotStore(.unvalidatable)
            }
        }
        return .store
    }

    /// Whether a response fetched for `request` may also be given to other requests for the
    /// same key that waited on the fetch (request coalescing). A shared cache must not hand one
    /// client's personal response to another: `private` or `no-store` (unless `must-understand`),
    /// a `Set-Cookie`, `Vary: *`, or a request with `Authorization` the response does not open
    /// up (RFC 9111 §3.5) keep it for its requester. Any status may be shared otherwise, so an
    /// origin error reaches every waiting client from one fetch.
    package func maySharePending(request: HTTPRequestHead, response: HTTPResponseHead) -> Bool {
        let cc = TargetedField.select(configuration.targetedFields, in: response.headers)?.directives ?? CacheControl(headers: response.headers)
        if cc.noStore && !cc.mustUnderstand { return false }
        if configuration.isShared && cc.isPrivate { return false }
        if response.headers.contains(name: "set-cookie") { return false }
        if VarySelector(responseHeaders: response.headers).isWildcard { return false }
        if request.headers.contains(name: "authorization") && !(cc.isPublic || cc.mustRevalidate || cc.sharedMaxAge != nil) {
            return false
        }
        return true
    }

    /// Status codes whose caching semantics this cache implements.
    static let understoodStatuses: Set<Int> = [
        200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308,
        400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
        421, 422, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 511,
    ]
}
