/// What the flows of a group carry; bytes are counted by kind.
enum FlowKind: UInt8 {
    /// Viewers downloading their stream (from the origin or a cache).
    case viewer
    /// A cache fetching a stream from upstream.
    case fill
    /// Background traffic (CDNSim's `-backnoise`).
    case background
}
