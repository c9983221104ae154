import NIOCore
import NIOHTTP1

/// Calls the admin API of a running `minicache` (``AdminAPI``): what `minicache ctl` and the
/// controller use.
package struct AdminClient: Sendable {
    /// The admin listener, e.g. `http://127.0.0.1:9080/`.
    package var base: HTTPURL
    /// The client the calls go through.
    package let client: OriginClient
    /// The longest a call may take. Default 10 s.
    package var timeout: TimeAmount
    /// The bearer token, when the listener asks for one (`--admin-token-file`). Default none.
    package var token: String?

    /// Creates a client for the admin listener at `base`.
    package init(base: HTTPURL, client: OriginClient, timeout: TimeAmount = .seconds(10), token: String? = nil) {
        self.base = base
        self.client = client
        self.timeout = timeout
        self.token = token
    }

    /// `GET /admin/status`.
    package func status() async throws(AdminClientError) -> AdminAPI.Status {
        try await call(.GET, AdminAPI.statusPath)
    }

    /// `GET /admin/objects`.
    package func objects() async throws(AdminClientError) -> AdminAPI.Objects {
        try await call(.GET, AdminAPI.objectsPath)
    }

    /// `GET /metrics`: Prometheus text.
    package func metrics() async throws(AdminClientError) -> String {
        String(buffer: try await exchange(.GET, AdminAPI.metricsPath))
    }

    /// `POST /admin/remount`.
    package func remount() async throws(AdminClientError) -> AdminAPI.Remounted {
        try await call(.POST, AdminAPI.remountPath)
    }

    /// `POST /admin/prefetch`: holds `objects` (names or hex digests; all when empty) in memory.
    package func prefetch(_ objects: [String]) async throws(AdminClientError) -> AdminAPI.Prefetched {
        try await call(.POST, AdminAPI.prefetchPath + Self.query(objects.map { ("object", $0) }))
    }

    /// `POST /admin/purge`: drops the cached responses for `urls` and under `prefixes`.
    package func purge(urls: [String], prefixes: [String]) async throws(AdminClientError) -> AdminAPI.Purged {
        try await call(.POST, AdminAPI.purgePath + Self.query(urls.map { ("url", $0) } + prefixes.map { ("prefix", $0) }))
    }

    private func call<T: Decodable>(_ method: HTTPMethod, _ target: String) async throws(AdminClientError) -> T {
        let body = try await exchange(method, target)
        do {
            return try JSON.decode(T.self, from: body)
        } catch {
            throw AdminClientError(.badResponse, "\(base.authority)\(target) sent \(error)")
        }
    }

    private func exchange(_ method: HTTPMethod, _ target: String) async throws(AdminClientError) -> ByteBuffer {
        let response: OriginResponse
        do {
            var headers = HTTPHeaders()
            if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
            response = try await client.request(method, base.with(path: target), headers: headers, timeout: timeout)
        } catch {
            throw AdminClientError(
                .unreachable,
                "cannot reach the admin listener at \(base.authority) (\(error.message)); is `minicache serve` running with --admin \(HostPort(host: base.host, port: base.port))?")
        }
        guard response.status == .ok else {
            let reason = (try? JSON.decode(AdminAPI.Failure.self, from: response.body))?.error ?? String(buffer: response.body)
            throw AdminClientError(.refused, "\(method) \(target): \(response.status.code) \(reason)")
        }
        return response.body
    }

    private static func query(_ items: [(String, String)]) -> String {
        items.isEmpty ? "" : "?" + items.map { "\($0.0)=\(PercentCoding.encode($0.1))" }.joined(separator: "&")
    }
}
