/// When a shared origin fetch was sent and answered (seconds since the epoch): what a request
/// that joined it needs to tell the response's age (RFC 9111 §4.2.3, §5.1).
package struct FillTimes: Sendable, Equatable {
    package var requestTime: Int64
    package var responseTime: Int64

    package init(requestTime: Int64, responseTime: Int64) {
        self.requestTime = requestTime
        self.responseTime = responseTime
    }
}
