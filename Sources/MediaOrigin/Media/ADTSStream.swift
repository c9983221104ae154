/// An AAC elementary stream in ADTS framing (ISO/IEC 13818-7 §6.2), split into frames of 1024
/// samples each.
package struct ADTSStream: Sendable {
    package let bytes: [UInt8]
    /// Each frame's bytes, ADTS header included (MPEG-TS carries ADTS as it is).
    package let frames: [Range<Int>]
    package let sampleRate: Int
    package let channels: Int
    /// The MPEG-4 audio object type (2 = AAC LC).
    package let objectType: Int

    package static let samplesPerFrame = 1024
    private static let sampleRates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]

    /// `mp4a.40.<object type>` as RFC 6381 names it.
    package var codecs: String { "mp4a.40.\(objectType)" }

    /// The two-byte AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) of this stream, for `esds`.
    package var audioSpecificConfig: [UInt8] {
        let index = Self.sampleRates.firstIndex(of: sampleRate) ?? 3
        return [UInt8(objectType << 3 | index >> 1), UInt8((index & 1) << 7 | channels << 3)]
    }

    /// - Throws: ``MediaError`` when the bytes are not a sequence of ADTS frames of one
    ///   configuration, each holding a single raw data block.
    package init(bytes: [UInt8]) throws(MediaError) {
        self.bytes = bytes
        var frames: [Range<Int>] = []
        var configuration: (Int, Int, Int)?
        var offset = 0
        while offset < bytes.count {
            guard offset + 7 <= bytes.count, bytes[offset] == 0xFF, bytes[offset + 1] & 0xF6 == 0xF0 else {
                throw MediaError(.badClip, "the AAC stream is not ADTS at byte \(offset)")
            }
            let objectType = Int(bytes[offset + 2] >> 6) + 1
            let rateIndex = Int(bytes[offset + 2] >> 2 & 0x0F)
            let channels = Int(bytes[offset + 2] & 1) << 2 | Int(bytes[offset + 3] >> 6)
            let length = Int(bytes[offset + 3] & 3) << 11 | Int(bytes[offset + 4]) << 3 | Int(bytes[offset + 5] >> 5)
            guard rateIndex < Self.sampleRates.count, length >= 7, offset + length <= bytes.count else {
                throw MediaError(.badClip, "the ADTS frame at byte \(offset) is malformed")
            }
            guard bytes[offset + 6] & 3 == 0 else {
                throw MediaError(.unsupported, "ADTS frames with several raw data blocks are not supported")
            }
            if configuration == nil { configuration = (objectType, rateIndex, channels) }
            guard configuration! == (objectType, rateIndex, channels) else {
                throw MediaError(.badClip, "the ADTS frames change configuration at byte \(offset)")
            }
            frames.append(offset..<offset + length)
            offset += length
        }
        guard let configuration, !frames.isEmpty else { throw MediaError(.badClip, "the AAC stream is empty") }
        self.frames = frames
        self.objectType = configuration.0
        self.sampleRate = Self.sampleRates[configuration.1]
        self.channels = configuration.2
    }

    /// The frames after the first: an encoder's priming frame is dropped so that a loop of the
    /// rest is seamless.
    package func droppingFirstFrame() -> ADTSStream {
        ADTSStream(bytes: bytes, frames: Array(frames.dropFirst()), sampleRate: sampleRate, channels: channels, objectType: objectType)
    }

    private init(bytes: [UInt8], frames: [Range<Int>], sampleRate: Int, channels: Int, objectType: Int) {
        self.bytes = bytes
        self.frames = frames
        self.sampleRate = sampleRate
        self.channels = channels
        self.objectType = objectType
    }
}
