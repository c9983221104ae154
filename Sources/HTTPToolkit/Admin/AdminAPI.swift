/// `minicache`'s admin API: its paths and documents, one Codable definition that the server
/// encodes and `minicache ctl` and the controller decode.
///
/// | request | answer |
/// | --- | --- |
/// | `GET /admin/status` | ``Status`` |
/// | `GET /admin/objects` | ``Objects`` |
/// | `GET /metrics` | Prometheus text |
/// | `POST /admin/remount` | ``Remounted`` |
/// | `POST /admin/prefetch[?object=NAME-OR-DIGEST[,…]…]` | ``Prefetched`` |
/// | `POST /admin/purge?url=/path…&prefix=/path/…` | ``Purged`` |
///
/// A refused action answers 4xx with a ``Failure``.
package enum AdminAPI {
    /// `GET`: the server's state, ``Status``.
    package static let statusPath = "/admin/status"
    /// `GET`: per-object statistics, ``Objects``.
    package static let objectsPath = "/admin/objects"
    /// `GET`: Prometheus metrics as text.
    package static let metricsPath = "/metrics"
    /// `POST`: re-open the volume's table now, ``Remounted``.
    package static let remountPath = "/admin/remount"
    /// `POST`: keep objects in memory, ``Prefetched``.
    package static let prefetchPath = "/admin/prefetch"
    /// `POST`: drop cached responses, ``Purged``.
    package static let purgePath = "/admin/purge"

    /// Why an action was refused.
    package struct Failure: Codable, Sendable, Equatable {
        /// What went wrong and what to do.
        package var error: String

        package init(error: String) { self.error = error }
    }
}
