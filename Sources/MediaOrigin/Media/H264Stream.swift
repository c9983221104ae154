/// An H.264 elementary stream in Annex B byte-stream form (ITU-T H.264 Annex B), split into
/// access units, with what a packager needs from its sequence parameter set.
///
/// Every access unit must begin with an access unit delimiter (NAL type 9), as MPEG-TS carriage
/// requires (ISO/IEC 13818-1 §2.14); frames are in decoding order and, without B-frames, in
/// presentation order too.
package struct H264Stream: Sendable {
    /// One coded picture: its bytes in ``bytes`` and whether it is an IDR picture.
    package struct AccessUnit: Sendable, Equatable {
        package var range: Range<Int>
        package var isKeyframe: Bool
    }

    package let bytes: [UInt8]
    package let accessUnits: [AccessUnit]
    /// The first sequence and picture parameter sets, without start codes (for `avcC`).
    package let sps: [UInt8]
    package let pps: [UInt8]
    package let width: Int
    package let height: Int
    /// Frames per second as a fraction, from the SPS's VUI timing information.
    package let frameRate: (numerator: Int, denominator: Int)

    /// `avc1.PPCCLL`: profile, constraint flags and level as RFC 6381 names them.
    package var codecs: String {
        "avc1." + sps[1...3].map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }

    /// - Throws: ``MediaError`` when the bytes are not an Annex B stream of delimited access
    ///   units with an SPS that carries the frame rate.
    package init(bytes: [UInt8]) throws(MediaError) {
        self.bytes = bytes
        let units = Self.nalUnits(bytes)
        guard let first = units.first, bytes[first.lowerBound] & 0x1F == 9 else {
            throw MediaError(.badClip, "the H.264 stream must start with an access unit delimiter (x264: aud=1)")
        }
        var accessUnits: [AccessUnit] = []
        var sps: [UInt8]?
        var pps: [UInt8]?
        for unit in units {
            let type = bytes[unit.lowerBound] & 0x1F
            if type == 9 {
                let start = Self.startCodeStart(bytes, before: unit.lowerBound)
                if var last = accessUnits.popLast() {
                    last.range = last.range.lowerBound..<start
                    accessUnits.append(last)
                }
                accessUnits.append(AccessUnit(range: start..<bytes.count, isKeyframe: false))
            } else if type == 5 {
                accessUnits[accessUnits.count - 1].isKeyframe = true
            } else if type == 7, sps == nil {
                sps = Array(bytes[unit])
            } else if type == 8, pps == nil {
                pps = Array(bytes[unit])
            }
        }
        guard let sps, let pps else { throw MediaError(.badClip, "the H.264 stream has no SPS or PPS") }
        guard accessUnits.first?.isKeyframe == true else {
            throw MediaError(.badClip, "the H.264 stream must start with an IDR picture")
        }
        let parameters = try SequenceParameterSet(sps)
        self.accessUnits = accessUnits
        self.sps = sps
        self.pps = pps
        self.width = parameters.width
        self.height = parameters.height
        guard let rate = parameters.frameRate else {
            throw MediaError(.badClip, "the H.264 SPS carries no timing information (VUI timing_info), so the frame rate is unknown")
        }
        self.frameRate = rate
    }

    /// The byte ranges of the NAL units (header byte first), without their start codes.
    static func nalUnits(_ bytes: [UInt8]) -> [Range<Int>] {
        var starts: [Int] = []
        var i = 0
        while i + 2 < bytes.count {
            if bytes[i] == 0, bytes[i + 1] == 0, bytes[i + 2] == 1 {
                starts.append(i + 3)
                i += 3
            } else {
                i += 1
            }
        }
        return starts.indices.map { k in
            let end = k + 1 < starts.count ? startCodeStart(bytes, before: starts[k + 1]) : bytes.count
            return starts[k]..<end
        }
    }

    /// Where the start code (`00 00 01` or `00 00 00 01`) before a NAL unit begins.
    static func startCodeStart(_ bytes: [UInt8], before unit: Int) -> Int {
        unit >= 4 && bytes[unit - 4] == 0 ? unit - 4 : unit - 3
    }
}

/// The fields of an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) that give the picture
/// size and the frame rate.
struct SequenceParameterSet {
    var width: Int
    var height: Int
    var frameRate: (numerator: Int, denominator: Int)?

    init(_ nal: [UInt8]) throws(MediaError) {
        var bits = RBSPReader(nal.dropFirst())
        let profile = try bits.bits(8)
        _ = try bits.bits(16)  // constraint flags, level
        _ = try bits.unsignedGolomb()  // seq_parameter_set_id
        if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(profile) {
            let chroma = try bits.unsignedGolomb()
            if chroma == 3 { _ = try bits.bits(1) }
            _ = try bits.unsignedGolomb()
            _ = try bits.unsignedGolomb()
            _ = try bits.bits(1)
            guard try bits.bits(1) == 0 else { throw MediaError(.unsupported, "H.264 SPS scaling matrices are not supported; encode without them") }
        }
        _ = try bits.unsignedGolomb()  // log2_max_frame_num_minus4
        let pocType = try bits.unsignedGolomb()
        if pocType == 0 {
            _ = try bits.unsignedGolomb()
        } else if pocType == 1 {
            _ = try bits.bits(1)
            _ = try bits.signedGolomb()
            _ = try bits.signedGolomb()
            for _ in 0..<(try bits.unsignedGolomb()) { _ = try bits.signedGolomb() }
        }
        _ = try bits.unsignedGolomb()  // max_num_ref_frames
        _ = try bits.bits(1)
        let widthInMacroblocks = try bits.unsignedGolomb() + 1
        let heightInMapUnits = try bits.unsignedGolomb() + 1
        let frameMacroblocksOnly = try bits.bits(1)
        if frameMacroblocksOnly == 0 { _ = try bits.bits(1) }
        _ = try bits.bits(1)  // direct_8x8_inference_flag
        var crop = (left: 0, right: 0, top: 0, bottom: 0)
        if try bits.bits(1) == 1 {
            crop = (try bits.unsignedGolomb(), try bits.unsignedGolomb(), try bits.unsignedGolomb(), try bits.unsignedGolomb())
        }
        let fieldFactor = 2 - frameMacroblocksOnly
        width = widthInMacroblocks * 16 - 2 * (crop.left + crop.right)
        height = fieldFactor * heightInMapUnits * 16 - 2 * fieldFactor * (crop.top + crop.bottom)
        frameRate = nil
        guard try bits.bits(1) == 1 else { return }  // vui_parameters_present_flag
        if try bits.bits(1) == 1, try bits.bits(8) == 255 { _ = try bits.bits(32) }  // aspect ratio
        if try bits.bits(1) == 1 { _ = try bits.bits(1) }  // overscan
        if try bits.bits(1) == 1 {  // video signal type
            _ = try bits.bits(4)
            if try bits.bits(1) == 1 { _ = try bits.bits(24) }
        }
        if try bits.bits(1) == 1 {  // chroma location
            _ = try bits.unsignedGolomb()
            _ = try bits.unsignedGolomb()
        }
        guard try bits.bits(1) == 1 else { return }  // timing_info_present_flag
        let unitsInTick = try bits.bits(32)
        let timeScale = try bits.bits(32)
        guard unitsInTick > 0 else { return }
        frameRate = (timeScale, 2 * unitsInTick)
    }
}

/// Reads bits and Exp-Golomb codes from a NAL unit's payload, dropping emulation-prevention bytes.
struct RBSPReader {
    private var bytes: [UInt8] = []
    private var position = 0

    init(_ nal: some Collection<UInt8>) {
        var zeros = 0
        for byte in nal {
            if zeros >= 2, byte == 3 {
                zeros = 0
                continue
            }
            zeros = byte == 0 ? zeros + 1 : 0
            bytes.append(byte)
        }
    }

    mutating func bits(_ count: Int) throws(MediaError) -> Int {
        var value = 0
        for _ in 0..<count {
            guard position / 8 < bytes.count else { throw MediaError(.badClip, "the H.264 SPS ends early") }
            value = value << 1 | Int(bytes[position / 8] >> (7 - UInt8(position % 8)) & 1)
            position += 1
        }
        return value
    }

    mutating func unsignedGolomb() throws(MediaError) -> Int {
        var zeros = 0
        while try bits(1) == 0 {
            zeros += 1
            guard zeros < 32 else { throw MediaError(.badClip, "the H.264 SPS has a malformed Exp-Golomb code") }
        }
        return (1 << zeros) - 1 + (try bits(zeros))
    }

    mutating func signedGolomb() throws(MediaError) -> Int {
        let k = try unsignedGolomb()
        return k % 2 == 1 ? (k + 1) / 2 : -(k / 2)
    }
}
