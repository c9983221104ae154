import NIOCore

/// What a player checks in each MPEG-TS segment it receives (ISO/IEC 13818-1): whole 188-byte
/// packets that start with the sync byte, a PAT first, and continuity counters that continue on
/// every PID from one segment to the next (§2.4.3.3), so that a segment cut short, stitched
/// together or served for the wrong sequence is caught.
package struct TransportStreamCheck: Sendable {
    private var counters: [UInt16: UInt8] = [:]
    private var lastSequence: Int?

    package init() {}

    /// Checks segment `sequence`; counters carry over from the previous call when it was segment
    /// `sequence - 1`.
    /// - Returns: what is wrong, or nil.
    package mutating func check(_ segment: ByteBuffer, sequence: Int) -> String? {
        if lastSequence != sequence - 1 { counters = [:] }
        lastSequence = sequence
        let bytes = segment.readableBytesView
        guard !bytes.isEmpty, bytes.count % 188 == 0 else {
            return "segment \(sequence) is \(bytes.count) bytes, not a whole number of 188-byte TS packets"
        }
        var index = bytes.startIndex
        var packet = 0
        while index < bytes.endIndex {
            guard bytes[index] == 0x47 else { return "segment \(sequence): packet \(packet) has no sync byte" }
            let pid = UInt16(bytes[index + 1] & 0x1F) << 8 | UInt16(bytes[index + 2])
            if packet == 0, pid != 0 { return "segment \(sequence) does not start with a PAT" }
            let control = bytes[index + 3] >> 4 & 3
            let counter = bytes[index + 3] & 0x0F
            if pid != 0x1FFF, control & 1 == 1 {
                if let last = counters[pid], counter != (last &+ 1) & 0x0F, counter != last {
                    return "segment \(sequence): continuity counter of PID \(pid) jumps from \(last) to \(counter) at packet \(packet)"
                }
                counters[pid] = counter
            }
            index += 188
            packet += 1
        }
        return nil
    }
}
