import HTTPToolkit
import NIOCore
import NIOHTTP1

/// Cuts a relayed `200` down to the single byte range a request asks for (RFC 9110 §14.2), as a
/// stored response would be: the cache fetches whole responses, so a client that joins a fill
/// still gets its `206`. Used on one event loop, in delivery order.
final class RangeRelay: @unchecked Sendable {
    private let range: [UInt8]
    private let ifRange: String?
    private let deliver: @Sendable (UpstreamEvent) -> Void
    private var window: Range<Int64>?
    private var offset: Int64 = 0

    /// `deliver`, with the range of `request` applied when it has exactly one `Range` and no
    /// conditionals (those keep the whole response).
    static func applying(rangeOf request: HTTPRequestHead, to deliver: @escaping @Sendable (UpstreamEvent) -> Void) -> @Sendable (UpstreamEvent) -> Void {
        let ranges = request.headers["range"]
        guard request.method == .GET, ranges.count == 1, !CacheRules.hasConditionals(request.headers) else { return deliver }
        let relay = RangeRelay(range: Array(ranges[0].utf8), ifRange: request.headers.first(name: "if-range"), deliver: deliver)
        return { event in relay.handle(event) }
    }

    private init(range: [UInt8], ifRange: String?, deliver: @escaping @Sendable (UpstreamEvent) -> Void) {
        self.range = range
        self.ifRange = ifRange
        self.deliver = deliver
    }

    private func handle(_ event: UpstreamEvent) {
        switch event {
        case .response(var head, let joined):
            let received = StoredResponse(requestHeaders: [:], response: head, requestTime: 0, responseTime: 0)
            guard head.status == .ok, let length = head.headers.first(name: "content-length").flatMap({ Int64($0) }),
                self.ifRange.map({ CacheRules.ifRangeHolds($0, stored: received) }) ?? true,
                case .ranges(let list) = ByteRanges.resolve(self.range, length: length), list.count == 1
            else {
                self.deliver(event)
                return
            }
            let r = list[0]
            head.status = .partialContent
            head.headers.replaceOrAdd(name: "Content-Range", value: "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(length)")
            head.headers.replaceOrAdd(name: "Content-Length", value: String(r.count))
            self.window = r
            // The head is no longer the fetch's: its joiners' shared fields do not fit it.
            var times = joined
            times?.joinerFields = nil
            self.deliver(.response(head, joined: times))
        case .body(var part, let file):
            guard let window = self.window else { return self.deliver(event) }
            let start = self.offset
            self.offset += Int64(part.readableBytes)
            let lower = max(window.lowerBound, start)
            let upper = min(window.upperBound, self.offset)
            guard lower < upper else { return }
            part.moveReaderIndex(forwardBy: Int(lower - start))
            let span = file.map { FileSpan(file: $0.file, offset: $0.offset + Int(lower - start), length: Int(upper - lower)) }
            if let slice = part.readSlice(length: Int(upper - lower)) { self.deliver(.body(slice, file: span)) }
        default:
            self.deliver(event)
        }
    }
}
