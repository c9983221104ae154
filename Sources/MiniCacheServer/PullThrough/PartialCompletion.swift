import HTTPToolkit
import NIOCore
import NIOHTTP1

/// Turns the origin's answer to a completion request into the whole response for one viewer:
/// a `206` for the rest of a stored prefix (same strong validator, RFC 9110 §15.3.7.3) becomes
/// a `200` of the combined fields whose body is the stored prefix, then the origin's bytes. Any
/// other answer (a `200` when the `If-Range` did not hold, an error) is passed on as it came;
/// a `206` that does not continue the prefix fails the request (502). Used on one event loop,
/// in delivery order.
final class PartialCompletion: @unchecked Sendable {
    private let prefix: StoredPrefix
    private let deliver: @Sendable (UpstreamEvent) -> Void
    private var refused = false

    /// `deliver`, fed the completed response when the origin's answer continues `prefix`.
    static func applying(_ prefix: StoredPrefix, to deliver: @escaping @Sendable (UpstreamEvent) -> Void) -> @Sendable (UpstreamEvent) -> Void {
        let completion = PartialCompletion(prefix: prefix, deliver: deliver)
        return { event in completion.handle(event) }
    }

    private init(prefix: StoredPrefix, deliver: @escaping @Sendable (UpstreamEvent) -> Void) {
        self.prefix = prefix
        self.deliver = deliver
    }

    private func handle(_ event: UpstreamEvent) {
        switch event {
        case .response(let head, let joined) where head.status == .partialContent:
            guard let whole = self.prefix.completion(by: head) else {
                self.refused = true
                self.deliver(.failed(.badGateway, "the origin's 206 does not continue the stored part of the response"))
                return
            }
            // The head is no longer the fetch's: its joiners' shared fields do not fit it.
            var times = joined
            times?.joinerFields = nil
            self.deliver(.response(whole, joined: times))
            self.deliver(.body(self.prefix.body, file: nil))
        case .body, .end, .failed:
            if !self.refused { self.deliver(event) }
        case .response, .informational, .fetchSeparately:
            self.deliver(event)
        }
    }
}
