import NIOCore

/// A VoD object: one rendition of the looped clip as a progressive MP4 (ISO/IEC 14496-12 and
/// 14496-15) of an exact size, with the `moov` box at the end as a camera or a simple encoder
/// writes it, so that a player reads it with a range request.
///
/// Layout: `ftyp`, `mdat` with one video chunk and one audio chunk per GOP at evenly spaced
/// offsets (the bytes between chunks are zero and referenced by no sample), then `moov`.
package enum ProgressiveMP4 {
    /// - Parameters:
    ///   - size: bytes of the whole file.
    ///   - bitrate: the nominal bits per second, which sets the duration (`size * 8 / bitrate`).
    /// - Throws: ``MediaError/Code/doesNotFit`` when `size` cannot hold one GOP.
    package static func make(clip: MediaClip, rendition: Int, size: Int, bitrate: Int) throws(MediaError) -> ByteBuffer {
        let video = clip.renditions[rendition].video
        let frameCount = video.accessUnits.count
        let gopSeconds = Double(clip.gopFrames * clip.frameTicks) / 90_000
        let gops = max(1, Int((Double(size) * 8 / Double(bitrate) / gopSeconds).rounded(.down)))
        let videoSamples = (0..<gops * clip.gopFrames).map { avccSample(video, frame: $0 % frameCount) }
        let gopTicks = clip.gopFrames * clip.frameTicks
        let audioCount = (gops * gopTicks + clip.audioFrameTicks - 1) / clip.audioFrameTicks
        let audioSamples = (0..<audioCount).map { rawAAC(clip.audio, frame: $0 % clip.audio.frames.count) }
        // Audio frames that start during GOP g go in the chunk after GOP g's pictures.
        let audioPerGOP = (0..<gops).map { g in
            let start = (g * gopTicks + clip.audioFrameTicks - 1) / clip.audioFrameTicks
            let end = ((g + 1) * gopTicks + clip.audioFrameTicks - 1) / clip.audioFrameTicks
            return start..<min(end, audioCount)
        }
        let ftyp = box("ftyp", Array("isom".utf8) + u32(512) + Array("isomiso2avc1mp41".utf8))
        let chunkBytes = (0..<gops).map { g in
            videoSamples[g * clip.gopFrames..<(g + 1) * clip.gopFrames].reduce(0) { $0 + $1.count }
                + audioSamples[audioPerGOP[g]].reduce(0) { $0 + $1.count }
        }
        let tables = Tables(clip: clip, video: video, videoSamples: videoSamples, audioSamples: audioSamples, audioPerGOP: audioPerGOP)
        // The moov's size does not depend on the offsets' values, so build it once to measure.
        let moovSize = tables.moov(offsets: Array(repeating: 0, count: gops)).count
        let mdatHeader = 8
        let needed = chunkBytes.reduce(0, +)
        let mdatPayload = size - ftyp.count - mdatHeader - moovSize
        guard mdatPayload >= needed, mdatPayload <= Int(UInt32.max) - mdatHeader else {
            throw MediaError(.doesNotFit, "a VoD object of \(size) bytes cannot hold the clip (it needs \(needed + ftyp.count + mdatHeader + moovSize) bytes and at most 4 GiB); change its size")
        }
        var offsets: [Int] = []
        var next = ftyp.count + mdatHeader
        var after = needed
        for g in 0..<gops {
            after -= chunkBytes[g]
            let even = ftyp.count + mdatHeader + g * mdatPayload / gops
            let latest = ftyp.count + mdatHeader + mdatPayload - after - chunkBytes[g]
            offsets.append(min(max(next, even), latest))
            next = offsets[g] + chunkBytes[g]
        }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        buffer.writeBytes(ftyp)
        buffer.writeInteger(UInt32(mdatHeader + mdatPayload))
        buffer.writeBytes(Array("mdat".utf8))
        for g in 0..<gops {
            buffer.writeRepeatingByte(0, count: offsets[g] - buffer.writerIndex)
            for sample in videoSamples[g * clip.gopFrames..<(g + 1) * clip.gopFrames] { buffer.writeBytes(sample) }
            for sample in audioSamples[audioPerGOP[g]] { buffer.writeBytes(sample) }
        }
        buffer.writeRepeatingByte(0, count: ftyp.count + mdatHeader + mdatPayload - buffer.writerIndex)
        buffer.writeBytes(tables.moov(offsets: offsets))
        return buffer
    }

    /// A picture as MP4 stores it: its slice and SEI NAL units with 4-byte lengths; the access
    /// unit delimiter and the parameter sets (which live in `avcC`) are left out.
    static func avccSample(_ video: H264Stream, frame: Int) -> [UInt8] {
        let bytes = Array(video.bytes[video.accessUnits[frame].range])
        var sample: [UInt8] = []
        for nal in H264Stream.nalUnits(bytes) where ![7, 8, 9].contains(bytes[nal.lowerBound] & 0x1F) {
            sample += u32(nal.count) + bytes[nal]
        }
        return sample
    }

    /// An AAC frame without its ADTS header (7 bytes, or 9 with a CRC).
    static func rawAAC(_ audio: ADTSStream, frame: Int) -> [UInt8] {
        let range = audio.frames[frame]
        let headerLength = audio.bytes[range.lowerBound + 1] & 1 == 1 ? 7 : 9
        return Array(audio.bytes[range.lowerBound + headerLength..<range.upperBound])
    }

    /// The `moov` box: a video and an audio track with their sample tables.
    struct Tables {
        var clip: MediaClip
        var video: H264Stream
        var videoSamples: [[UInt8]]
        var audioSamples: [[UInt8]]
        var audioPerGOP: [Range<Int>]

        func moov(offsets: [Int]) -> [UInt8] {
            let gop = clip.gopFrames
            let videoDuration = videoSamples.count * clip.frameTicks
            let milliseconds = videoDuration / 90
            let sampleRate = clip.audio.sampleRate
            let audioOffsets = offsets.indices.map { g in
                offsets[g] + videoSamples[g * gop..<(g + 1) * gop].reduce(0) { $0 + $1.count }
            }
            let mvhd = fullBox("mvhd", u32(0) + u32(0) + u32(1000) + u32(milliseconds) + u32(0x0001_0000) + u16(0x0100) + zeros(10) + matrix + zeros(24) + u32(3))

            let avcC = box("avcC", [1, video.sps[1], video.sps[2], video.sps[3], 0xFF, 0xE1] + u16(video.sps.count) + video.sps + [1] + u16(video.pps.count) + video.pps)
            let avc1 = box(
                "avc1",
                zeros(6) + u16(1) + zeros(16) + u16(video.width) + u16(video.height) + u32(0x0048_0000) + u32(0x0048_0000) + zeros(4) + u16(1) + zeros(32)
                    + u16(0x18) + u16(0xFFFF) + avcC
            )
            let keyframes = stride(from: 0, to: videoSamples.count, by: gop).flatMap { u32($0 + 1) }
            let videoTable = box(
                "stbl",
                fullBox("stsd", u32(1) + avc1)
                    + fullBox("stts", u32(1) + u32(videoSamples.count) + u32(clip.frameTicks))
                    + fullBox("stss", u32(keyframes.count / 4) + keyframes)
                    + fullBox("stsc", u32(1) + u32(1) + u32(gop) + u32(1))
                    + fullBox("stsz", u32(0) + u32(videoSamples.count) + videoSamples.flatMap { u32($0.count) })
                    + fullBox("stco", u32(offsets.count) + offsets.flatMap { u32($0) })
            )
            let videoTrack = track(
                id: 1, duration: milliseconds, size: (video.width, video.height), timescale: 90_000, mediaDuration: videoDuration,
                handler: "vide", name: "VideoHandler", header: fullBox("vmhd", zeros(8), flags: 1), table: videoTable
            )

            let config = clip.audio.audioSpecificConfig
            let decoderSpecific = [UInt8(5), UInt8(config.count)] + config
            let decoderConfig = [UInt8(4), UInt8(13 + decoderSpecific.count), 0x40, 0x15, 0, 0x18, 0] + u32(128_000) + u32(64_000) + decoderSpecific
            let esDescriptor = [UInt8(3), UInt8(3 + decoderConfig.count + 3)] + u16(2) + [0] + decoderConfig + [6, 1, 2]
            let mp4a = box(
                "mp4a",
                zeros(6) + u16(1) + zeros(8) + u16(clip.audio.channels) + u16(16) + zeros(4) + u32(sampleRate << 16) + fullBox("esds", esDescriptor)
            )
            var chunkRuns: [UInt8] = []
            var runs = 0
            for g in audioPerGOP.indices where g == 0 || audioPerGOP[g].count != audioPerGOP[g - 1].count {
                chunkRuns += u32(g + 1) + u32(audioPerGOP[g].count) + u32(1)
                runs += 1
            }
            let audioTable = box(
                "stbl",
                fullBox("stsd", u32(1) + mp4a)
                    + fullBox("stts", u32(1) + u32(audioSamples.count) + u32(ADTSStream.samplesPerFrame))
                    + fullBox("stsc", u32(runs) + chunkRuns)
                    + fullBox("stsz", u32(0) + u32(audioSamples.count) + audioSamples.flatMap { u32($0.count) })
                    + fullBox("stco", u32(audioOffsets.count) + audioOffsets.flatMap { u32($0) })
            )
            let audioSampleCount = audioSamples.count * ADTSStream.samplesPerFrame
            let audioTrack = track(
                id: 2, duration: audioSampleCount * 1000 / sampleRate, size: (0, 0), timescale: sampleRate, mediaDuration: audioSampleCount,
                handler: "soun", name: "SoundHandler", header: fullBox("smhd", zeros(4)), table: audioTable
            )
            return box("moov", mvhd + videoTrack + audioTrack)
        }

        func track(
            id: Int, duration: Int, size: (Int, Int), timescale: Int, mediaDuration: Int, handler: String, name: String, header: [UInt8], table: [UInt8]
        ) -> [UInt8] {
            let volume = handler == "soun" ? 0x0100 : 0
            let tkhd = fullBox(
                "tkhd",
                u32(0) + u32(0) + u32(id) + u32(0) + u32(duration) + zeros(8) + u16(0) + u16(0) + u16(volume) + u16(0) + matrix + u32(size.0 << 16) + u32(size.1 << 16),
                flags: 3
            )
            let mdhd = fullBox("mdhd", u32(0) + u32(0) + u32(timescale) + u32(mediaDuration) + u16(0x55C4) + u16(0))
            let hdlr = fullBox("hdlr", u32(0) + Array(handler.utf8) + zeros(12) + Array(name.utf8) + [0])
            let dinf = box("dinf", fullBox("dref", u32(1) + fullBox("url ", [], flags: 1)))
            return box("trak", tkhd + box("mdia", mdhd + hdlr + box("minf", header + dinf + table)))
        }
    }

    static let matrix: [UInt8] = u32(0x0001_0000) + zeros(12) + u32(0x0001_0000) + zeros(12) + u32(0x4000_0000)

    static func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        u32(8 + payload.count) + Array(type.utf8) + payload
    }

    static func fullBox(_ type: String, _ payload: [UInt8], flags: Int = 0) -> [UInt8] {
        box(type, [0, UInt8(flags >> 16 & 0xFF), UInt8(flags >> 8 & 0xFF), UInt8(flags & 0xFF)] + payload)
    }

    static func u32(_ value: Int) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    static func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
}
