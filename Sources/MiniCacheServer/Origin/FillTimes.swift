import NIOHTTP1
import Synchronization

/// When a shared origin fetch was sent and answered (seconds since the epoch): what a request
/// that joined it needs to tell the response's age (RFC 9111 §4.2.3, §5.1).
package struct FillTimes: Sendable, Equatable {
    package var requestTime: Int64
    package var responseTime: Int64
    /// The fetch's relayed fields as its joiners get them, shared by all of them (nil: none kept).
    /// They fit the fetch's own head only: whoever changes the head (a range cut) drops them.
    package var joinerFields: JoinerFields?

    package init(requestTime: Int64, responseTime: Int64, joinerFields: JoinerFields? = nil) {
        self.requestTime = requestTime
        self.responseTime = responseTime
        self.joinerFields = joinerFields
    }

    package static func == (lhs: FillTimes, rhs: FillTimes) -> Bool {
        lhs.requestTime == rhs.requestTime && lhs.responseTime == rhs.responseTime
    }
}

/// The fields a shared fetch's response is relayed to its joiners with, made once per second
/// (their `Age` changes with the second) instead of once per joiner: a live segment has
/// hundreds of joiners within a second.
package final class JoinerFields: Sendable {
    private let made = Mutex<(now: Int64, fields: HTTPHeaders)?>(nil)

    package init() {}

    /// The fields for `now`, made with `make` when none were made for that second.
    package func fields(now: Int64, make: () -> HTTPHeaders) -> HTTPHeaders {
        if let made = self.made.withLock({ $0 }), made.now == now { return made.fields }
        let fields = make()
        self.made.withLock { $0 = (now, fields) }
        return fields
    }
}
