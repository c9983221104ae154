import HTTPToolkit
import SHFS

/// A representation the server sends from the volume: a local object with the fields prepared at
/// mount, or a stored response of the cache with its own status and fields (RFC 9111 §4).
package struct Representation {
    /// Where the status and fields come from.
    package enum Source {
        /// A local object: `200`, and the fields prepared when the volume was mounted.
        case local
        /// A stored response: its status and fields, with `Age` and the `X-Cache` label.
        case stored(HitHead, age: Int64, label: CacheLabel)
    }

    /// The part of a representation a request selects, after its preconditions (RFC 9110
    /// §13.2.2) and its range (§14.2): the one decision local objects and stored responses share.
    package enum Selection: Equatable, Sendable {
        /// All of it, with its status.
        case whole
        /// `304`: a precondition says the client's copy is current.
        case notModified
        /// `412`: a precondition does not hold.
        case preconditionFailed
        /// `416`: no range of the request overlaps the representation.
        case unsatisfiable
        /// `206` with one range.
        case range(Range<Int64>)
        /// `206` with a `multipart/byteranges` body (RFC 9110 §14.6).
        case multipart([Range<Int64>])

        /// The selection for the outcome of a request's preconditions and, when they hold, its
        /// ranges (resolved only then).
        package init(_ outcome: Preconditions.Outcome, ranges: () -> ByteRanges) {
            switch outcome {
            case .notModified:
                self = .notModified
            case .preconditionFailed:
                self = .preconditionFailed
            case .proceed:
                switch ranges() {
                case .whole: self = .whole
                case .unsatisfiable: self = .unsatisfiable
                case .ranges(let list) where list.count == 1: self = .range(list[0])
                case .ranges(let list): self = .multipart(list)
                }
            }
        }
    }

    /// The object of the volume holding the body.
    package let object: PreparedObject
    package let source: Source

    package init(_ object: PreparedObject, _ source: Source = .local) {
        self.object = object
        self.source = source
    }

    /// The status of a whole response.
    package var status: HTTPStatus {
        switch self.source {
        case .local: .ok
        case .stored(let hit, _, _): hit.status
        }
    }

    /// The status sent for `selection`.
    package func status(of selection: Selection) -> HTTPStatus {
        switch selection {
        case .whole: self.status
        case .notModified: .notModified
        case .preconditionFailed: .preconditionFailed
        case .unsatisfiable: .rangeNotSatisfiable
        case .range, .multipart: .partialContent
        }
    }

    /// Where the object's body lies in the representation: from `start`, of `completeLength`
    /// bytes in all. A stored `206` holds one range of it (RFC 9111 §3.3); anything else all of it.
    package var extent: (start: Int64, completeLength: Int64) {
        if case .stored(let hit, _, _) = self.source, let partial = hit.partialContent { return partial }
        return (0, self.object.length)
    }

    /// The media type of the body (a stored response may have none).
    package var contentType: String? {
        switch self.source {
        case .local: self.object.contentType
        case .stored(let hit, _, _): hit.contentType
        }
    }

    /// The `multipart/byteranges` boundary: fixed per object, unlikely in any body.
    package var boundary: String {
        "minicache-\(self.object.entry.hexDigest.prefix(16))"
    }
}
