import HTTPToolkit
import MiniCacheServer
import NIOHTTP1

/// Builders for requests, responses and stored responses in the caching tests.
enum CacheFixtures {
    /// 2024-01-01 00:00:00 GMT, the origin's clock in the examples.
    static let t0: Int64 = 1_704_067_200

    static func request(_ method: HTTPMethod = .GET, _ uri: String = "/a", _ headers: [(String, String)] = []) -> HTTPRequestHead {
        var all = HTTPHeaders([("Host", "example.com")])
        all.add(contentsOf: headers)
        return HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: all)
    }

    static func response(_ status: Int = 200, _ headers: [(String, String)] = []) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers))
    }

    /// A response received at t0 (requested one second earlier), `Date: t0` added unless given.
    static func stored(
        _ status: Int = 200,
        _ headers: [(String, String)] = [],
        request: HTTPRequestHead = request(),
        shared: Bool = true
    ) -> StoredResponse {
        var all = headers
        if !all.contains(where: { $0.0.lowercased() == "date" }) { all.append(("Date", HTTPDate.format(t0))) }
        return StoredResponse(
            requestHeaders: request.headers, response: response(status, all), requestTime: t0 - 1, responseTime: t0,
            isShared: shared)
    }
}
