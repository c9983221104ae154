import HTTPToolkit
import NIOCore
import NIOHTTP1
import NIOSSL

/// How a viewer fetches: the toolkit's ``OriginClient`` with one request per connection (a
/// viewer's connection closes with its request, so a cache's open connections are its viewers), a
/// deadline per request and failures as ``LoadError``. `https://` URLs go over TLS with the trust
/// roots of `tls`.
struct ViewerClient: Sendable {
    private let client: OriginClient
    /// The longest one request may take, connecting included.
    private let timeout: TimeAmount

    /// - Parameter tls: the TLS client of `https://` URLs; nil: one that trusts the system's roots.
    init(group: any EventLoopGroup, connectTimeout: TimeAmount, timeout: TimeAmount, tls: NIOSSLContext?) {
        self.client = OriginClient(
            group: group,
            configuration: OriginClientConfiguration(connectTimeout: connectTimeout, readTimeout: timeout, tls: tls ?? (try? Self.systemTLS.get()))
        )
        self.timeout = timeout
    }

    /// A client context with the system's trust roots, made once.
    private static let systemTLS = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// GETs `url` from `localAddress` and reads the whole response (`keepBody` false: counts the
    /// body's bytes without keeping them).
    /// - Throws: ``LoadError`` `httpFailed` or `timeout`.
    func get(_ url: HTTPURL, keepBody: Bool = true, from localAddress: String) async throws(LoadError) -> OriginResponse {
        do {
            return try await self.client.request(
                .GET, url, headers: ["Connection": "close"], localAddress: localAddress, timeout: self.timeout, keepBody: keepBody)
        } catch {
            throw LoadError(error.isTimeout ? .timeout : .httpFailed, "\(url): \(error)", underlying: error)
        }
    }
}
