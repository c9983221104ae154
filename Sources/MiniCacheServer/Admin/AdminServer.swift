import HTTPToolkit
import NIOCore
import Prometheus

/// The admin listener: status, per-object statistics, Prometheus metrics, remount, prefetch and
/// purge (``AdminAPI``), answered by ``AdminResponder`` on the toolkit's ``HTTPServer``; not on
/// the request path.
enum AdminServer {
    static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        server: ServerContext,
        prometheus: PrometheusCollectorRegistry?
    ) async throws(HTTPServerError) -> any Channel {
        let responder = AdminResponder(server: server, prometheus: prometheus)
        let listener = try await HTTPServer.bind(
            HTTPServerConfiguration(host: host, port: port, serverName: "minicache"), group: group, logger: server.logger,
            responder: { await responder.respond(to: $0) })
        return listener.channel
    }
}
