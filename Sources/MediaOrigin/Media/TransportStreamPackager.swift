import NIOCore

/// Cuts one rendition of a looped ``MediaClip`` into live MPEG-TS segments (ISO/IEC 13818-1) of a
/// fixed duration, each padded with null packets to a fixed size.
///
/// A segment is self-contained (PAT, PMT, then whole GOPs starting with an IDR picture and the
/// audio frames that start in its time range) and is a pure function of its sequence number:
/// timestamps, PCR and every PID's continuity counter continue exactly where the previous
/// segment left off, so players see one unbroken stream without discontinuity tags.
package struct TransportStreamPackager: Sendable {
    package static let videoPID: UInt16 = 0x100
    package static let audioPID: UInt16 = 0x101
    package static let pmtPID: UInt16 = 0x1000
    package static let nullPID: UInt16 = 0x1FFF
    /// Presentation time of media time zero; the PCR runs this far behind the decoding time.
    static let timestampOffset = 10 * 90_000
    static let pcrDelay = 45_000

    private let video: H264Stream
    private let audio: ADTSStream
    private let segmentFrames: Int
    private let frameTicks: Int
    private let audioFrameTicks: Int
    /// TS packets of each clip frame's PES, and their running sums (one more entry than frames).
    private let videoPackets: [Int]
    private let audioPackets: [Int]
    private let patSection: [UInt8]
    private let pmtSection: [UInt8]

    /// Media seconds per segment.
    package var segmentDuration: Double { Double(segmentFrames * frameTicks) / 90_000 }

    /// - Parameters:
    ///   - clip: the looped clip.
    ///   - rendition: index into `clip.renditions`.
    ///   - segmentDuration: seconds per segment; a whole number of the clip's GOPs.
    /// - Throws: ``MediaError/Code/doesNotFit`` when the duration is not a whole number of GOPs.
    package init(clip: MediaClip, rendition: Int, segmentDuration: Double) throws(MediaError) {
        let gopSeconds = Double(clip.gopFrames * clip.frameTicks) / 90_000
        let gops = (segmentDuration / gopSeconds).rounded()
        guard gops >= 1, abs(gops * gopSeconds - segmentDuration) < 1e-9 else {
            throw MediaError(.doesNotFit, "a segment duration of \(segmentDuration) s is not a whole number of the clip's \(gopSeconds) s GOPs; use a multiple of \(gopSeconds)")
        }
        video = clip.renditions[rendition].video
        audio = clip.audio
        segmentFrames = Int(gops) * clip.gopFrames
        frameTicks = clip.frameTicks
        audioFrameTicks = clip.audioFrameTicks
        videoPackets = Self.runningSums(video.accessUnits.map {
            Self.packetCount(payload: Self.pesHeaderLength + $0.range.count, adaptationField: Self.pcrFieldLength)
        })
        audioPackets = Self.runningSums(audio.frames.map {
            Self.packetCount(payload: Self.pesHeaderLength + $0.count, adaptationField: 0)
        })
        patSection = Self.section(tableID: 0, id: 1, body: [0x00, 0x01, 0xE0 | UInt8(Self.pmtPID >> 8), UInt8(Self.pmtPID & 0xFF)])
        pmtSection = Self.section(tableID: 2, id: 1, body: [
            0xE0 | UInt8(Self.videoPID >> 8), UInt8(Self.videoPID & 0xFF), 0xF0, 0x00,
            0x1B, 0xE0 | UInt8(Self.videoPID >> 8), UInt8(Self.videoPID & 0xFF), 0xF0, 0x00,
            0x0F, 0xE0 | UInt8(Self.audioPID >> 8), UInt8(Self.audioPID & 0xFF), 0xF0, 0x00,
        ])
    }

    /// The largest a segment of this rendition can be before padding, over every position in the
    /// video and audio loops, plus one null packet for the stamp.
    package var largestSegment: Int {
        let videoCount = video.accessUnits.count
        var largestVideo = 0
        for start in stride(from: 0, to: videoCount, by: gcd(segmentFrames, videoCount)) {
            largestVideo = max(largestVideo, packets(videoPackets, from: start, to: start + segmentFrames))
        }
        let audioCount = audio.frames.count
        let audioFramesPerSegment = (segmentFrames * frameTicks + audioFrameTicks - 1) / audioFrameTicks
        let largestAudio = (0..<audioCount).map { packets(audioPackets, from: $0, to: $0 + audioFramesPerSegment) }.max() ?? 0
        return (3 + largestVideo + largestAudio) * 188
    }

    /// Segment `sequence`, padded with null packets to `size` bytes (a multiple of 188; a
    /// segment that does not fit is returned unpadded). The first null packet carries `stamp`.
    package func segment(_ sequence: Int, size: Int, stamp: String) -> ByteBuffer {
        let firstFrame = sequence * segmentFrames
        let endFrame = firstFrame + segmentFrames
        let startTicks = firstFrame * frameTicks
        let firstAudio = (startTicks + audioFrameTicks - 1) / audioFrameTicks
        let endAudio = (endFrame * frameTicks + audioFrameTicks - 1) / audioFrameTicks

        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var pat = UInt8(sequence & 15)
        writeSection(patSection, pid: 0, counter: &pat, into: &buffer)
        var pmt = UInt8(sequence & 15)
        writeSection(pmtSection, pid: Self.pmtPID, counter: &pmt, into: &buffer)
        var videoCounter = UInt8(packets(videoPackets, from: 0, to: firstFrame) & 15)
        var audioCounter = UInt8(packets(audioPackets, from: 0, to: firstAudio) & 15)
        var frame = firstFrame
        var audioFrame = firstAudio
        while frame < endFrame || audioFrame < endAudio {
            let videoTime = frame * frameTicks
            let audioTime = audioFrame * audioFrameTicks
            if frame < endFrame, audioFrame >= endAudio || videoTime <= audioTime {
                let unit = video.accessUnits[frame % video.accessUnits.count]
                let dts = Self.timestampOffset + videoTime
                writePES(
                    streamID: 0xE0, pts: dts, payload: video.bytes[unit.range], pid: Self.videoPID, counter: &videoCounter,
                    pcr: dts - Self.pcrDelay, randomAccess: unit.isKeyframe, into: &buffer
                )
                frame += 1
            } else {
                let range = audio.frames[audioFrame % audio.frames.count]
                writePES(
                    streamID: 0xC0, pts: Self.timestampOffset + audioTime, payload: audio.bytes[range], pid: Self.audioPID,
                    counter: &audioCounter, pcr: nil, randomAccess: false, into: &buffer
                )
                audioFrame += 1
            }
        }
        var stampPayload = Array(stamp.utf8.prefix(184))
        while buffer.readableBytes + 188 <= size {
            writeHeader(pid: Self.nullPID, start: false, adaptation: false, counter: 0, into: &buffer)
            buffer.writeBytes(stampPayload)
            buffer.writeRepeatingByte(0xFF, count: 184 - stampPayload.count)
            stampPayload = []
        }
        return buffer
    }

    // MARK: Packets

    /// Bytes of a PES header with a PTS only (no B-frames, so DTS = PTS).
    static let pesHeaderLength = 14
    /// Bytes of the adaptation field that carries a PCR (length, flags, PCR).
    static let pcrFieldLength = 8

    static func packetCount(payload: Int, adaptationField: Int) -> Int {
        let first = 184 - adaptationField
        return payload <= first ? 1 : 1 + (payload - first + 183) / 184
    }

    static func runningSums(_ counts: [Int]) -> [Int] {
        var sums = [0]
        for count in counts { sums.append(sums[sums.count - 1] + count) }
        return sums
    }

    /// Packets of the looped frames `start..<end` (global frame numbers).
    private func packets(_ sums: [Int], from start: Int, to end: Int) -> Int {
        func cumulative(_ n: Int) -> Int {
            let count = sums.count - 1
            return n / count * sums[count] + sums[n % count]
        }
        return cumulative(end) - cumulative(start)
    }

    private func writeHeader(pid: UInt16, start: Bool, adaptation: Bool, counter: UInt8, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x47))
        buffer.writeInteger((start ? 0x4000 : 0) | pid)
        buffer.writeInteger((adaptation ? 0x30 : 0x10) | counter & 15)
    }

    private func writeSection(_ section: [UInt8], pid: UInt16, counter: inout UInt8, into buffer: inout ByteBuffer) {
        writeHeader(pid: pid, start: true, adaptation: false, counter: counter, into: &buffer)
        counter &+= 1
        buffer.writeInteger(UInt8(0))  // pointer_field
        buffer.writeBytes(section)
        buffer.writeRepeatingByte(0xFF, count: 183 - section.count)
    }

    private func writePES(
        streamID: UInt8, pts: Int, payload: ArraySlice<UInt8>, pid: UInt16, counter: inout UInt8, pcr: Int?, randomAccess: Bool,
        into buffer: inout ByteBuffer
    ) {
        let length = Self.pesHeaderLength - 6 + payload.count
        var header: [UInt8] = [0, 0, 1, streamID, UInt8(length > 0xFFFF ? 0 : length >> 8), UInt8(length > 0xFFFF ? 0 : length & 0xFF), 0x84, 0x80, 5]
        header += Self.timestamp(pts, marker: 0x20)
        var remaining = header.count + payload.count
        var consumedHeader = 0
        var offset = payload.startIndex
        var first = true
        while remaining > 0 {
            var field: [UInt8] = []
            if first, let pcr {
                let base = pcr & 0x1_FFFF_FFFF
                field = [randomAccess ? 0x50 : 0x10, UInt8(base >> 25 & 0xFF), UInt8(base >> 17 & 0xFF), UInt8(base >> 9 & 0xFF), UInt8(base >> 1 & 0xFF), UInt8((base & 1) << 7 | 0x7E), 0]
            }
            var space = 184 - (field.isEmpty ? 0 : field.count + 1)
            if remaining < space {
                // Stuffing goes in the adaptation field so that the payload ends the packet.
                let fieldLength = 183 - remaining
                if fieldLength > 0 {
                    if field.isEmpty { field = [0] }
                    field += [UInt8](repeating: 0xFF, count: fieldLength - field.count)
                }
                space = remaining
            }
            writeHeader(pid: pid, start: first, adaptation: space < 184, counter: counter, into: &buffer)
            counter &+= 1
            if space < 184 {
                buffer.writeInteger(UInt8(field.count))
                buffer.writeBytes(field)
            }
            var room = space
            if consumedHeader < header.count {
                let n = min(room, header.count - consumedHeader)
                buffer.writeBytes(header[consumedHeader..<consumedHeader + n])
                consumedHeader += n
                room -= n
            }
            if room > 0 {
                buffer.writeBytes(payload[offset..<offset + room])
                offset += room
            }
            remaining -= space
            first = false
        }
    }

    /// A 33-bit PTS in the 5-byte PES form with its marker bits.
    static func timestamp(_ value: Int, marker: UInt8) -> [UInt8] {
        let t = value & 0x1_FFFF_FFFF
        return [
            marker | UInt8(t >> 29 & 0x0E) | 1, UInt8(t >> 22 & 0xFF), UInt8(t >> 14 & 0xFE) | 1,
            UInt8(t >> 7 & 0xFF), UInt8(t << 1 & 0xFE) | 1,
        ]
    }

    /// A long-form PSI section (PAT or PMT) with version 0 and its CRC.
    static func section(tableID: UInt8, id: UInt16, body: [UInt8]) -> [UInt8] {
        let length = 5 + body.count + 4
        var bytes: [UInt8] = [tableID, 0xB0 | UInt8(length >> 8), UInt8(length & 0xFF), UInt8(id >> 8), UInt8(id & 0xFF), 0xC1, 0, 0]
        bytes += body
        let crc = crc32MPEG2(bytes)
        return bytes + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
    }

    /// CRC-32/MPEG-2: polynomial 0x04C11DB7, initial value all ones, not reflected.
    static func crc32MPEG2(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? crc << 1 ^ 0x04C1_1DB7 : crc << 1 }
        }
        return crc
    }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
