import HTTPToolkit
import NIOCore
import NIOHTTP1
import NIOSSL

/// A response read by ``HTTPClient``.
package struct HTTPClientResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    /// The body, unless the request asked to count bytes only.
    package var body: ByteBuffer
    /// Body bytes received.
    package var bodyBytes: Int
}

/// The control plane's view of the toolkit's ``OriginClient``: one request per connection (a
/// viewer's connection closes with its request, so a cache's open connections are its viewers),
/// a deadline per request, failures as ``ControlError``. `https://` URLs go over TLS, the
/// server's certificate checked against the trust roots of `tls` and the URL's host name or IP
/// address.
package struct HTTPClient: Sendable {
    /// The client underneath.
    package let client: OriginClient
    /// The longest one request may take, connecting included.
    package var timeout: TimeAmount

    /// - Parameter tls: the TLS client of `https://` URLs; nil: one that trusts the system's roots.
    package init(group: any EventLoopGroup, connectTimeout: TimeAmount = .seconds(2), timeout: TimeAmount = .seconds(10), tls: NIOSSLContext? = nil) {
        self.client = OriginClient(
            group: group,
            configuration: OriginClientConfiguration(connectTimeout: connectTimeout, readTimeout: timeout, tls: tls ?? (try? Self.systemTLS.get()))
        )
        self.timeout = timeout
    }

    /// A client context that trusts the certificates in `caFile` (PEM) instead of the system's roots.
    /// - Throws: ``ControlError`` `badConfiguration` when the file holds no certificate.
    package static func trusting(caFile: String) throws(ControlError) -> NIOSSLContext {
        do {
            return try TLSFiles.clientContext(trusting: caFile)
        } catch {
            throw ControlError(.badConfiguration, error.message, underlying: error)
        }
    }

    /// A client context with the system's trust roots, made once.
    private static let systemTLS = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// Sends one request and reads the whole response.
    /// - Parameters:
    ///   - keepBody: false counts body bytes without keeping them.
    ///   - localAddress: an IP to send from.
    /// - Throws: ``ControlError`` `httpFailed` or `timeout`.
    package func request(
        _ method: HTTPMethod = .GET, _ url: HTTPURL, headers: HTTPHeaders = [:], keepBody: Bool = true, localAddress: String? = nil
    ) async throws(ControlError) -> HTTPClientResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Connection", value: "close")
        do {
            let response = try await client.request(
                method, url, headers: headers, localAddress: localAddress, timeout: timeout, keepBody: keepBody)
            return HTTPClientResponse(status: Int(response.status.code), headers: response.headers, body: response.body, bodyBytes: response.bodyLength)
        } catch {
            throw ControlError(error.isTimeout ? .timeout : .httpFailed, "\(url): \(error)", underlying: error)
        }
    }

    /// GET that returns the body as text, failing on a non-2xx status.
    package func text(_ url: HTTPURL, localAddress: String? = nil) async throws(ControlError) -> String {
        let response = try await request(.GET, url, localAddress: localAddress)
        guard (200..<300).contains(response.status) else {
            throw ControlError(.httpFailed, "\(url) answered \(response.status)")
        }
        return String(buffer: response.body)
    }
}
