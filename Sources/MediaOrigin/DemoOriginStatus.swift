/// What `GET /status` of the demo origin answers (JSON): its egress since start and the live edge.
public struct DemoOriginStatus: Codable, Sendable, Equatable {
    /// Requests answered.
    public var requests: Int
    /// Body bytes sent.
    public var bytes: Int
    /// Distinct live segments served with a body.
    public var segments: Int
    /// Fetches of a live segment served before (what a cache in front should have saved).
    public var repeatedSegments: Int
    /// The newest live segment's sequence number.
    public var liveEdge: Int

    public init(requests: Int, bytes: Int, segments: Int, repeatedSegments: Int, liveEdge: Int) {
        self.requests = requests
        self.bytes = bytes
        self.segments = segments
        self.repeatedSegments = repeatedSegments
        self.liveEdge = liveEdge
    }
}
