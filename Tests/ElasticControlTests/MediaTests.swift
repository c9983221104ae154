import ElasticControl
import Foundation
@testable import MediaOrigin
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import PlayerLoad
import Testing

/// The demo origin's media: the committed clip, live MPEG-TS segments and VoD MP4 objects, checked
/// by structure here and by ffmpeg where it is installed. On threads of their own: packaging and
/// checking segments computes for seconds without suspending.
@Suite(.onOwnThreads)
struct MediaTests {
    static func clip() throws -> MediaClip { try MediaClip(directory: MediaClip.defaultDirectory) }

    @Test func theCommittedClipHasThreeRenditionsWithHalfSecondGOPsAndALoopOfAudio() throws {
        let clip = try Self.clip()
        #expect(clip.renditions.map { "\($0.video.width)x\($0.video.height)" } == ["640x360", "960x540", "1280x720"])
        #expect(clip.renditions.allSatisfy { $0.video.accessUnits.count == 48 && $0.video.codecs.hasPrefix("avc1.4d") })
        #expect(clip.frameTicks == 3750)
        #expect(clip.gopFrames == 12)
        #expect(clip.audio.sampleRate == 48_000)
        #expect(clip.audio.frames.count == 96)
        #expect(clip.audioFrameTicks == 1920)
        #expect(clip.audio.codecs == "mp4a.40.2")
    }

    /// PTS of the first video PES of a segment (ISO/IEC 13818-1 §2.4.3.7).
    static func firstVideoPTS(_ segment: ByteBuffer) -> Int? {
        let bytes = segment.readableBytesView
        for offset in stride(from: bytes.startIndex, to: bytes.endIndex, by: 188) {
            let pid = Int(bytes[offset + 1] & 0x1F) << 8 | Int(bytes[offset + 2])
            guard pid == Int(TransportStreamPackager.videoPID), bytes[offset + 1] & 0x40 != 0 else { continue }
            var p = offset + 4
            if bytes[offset + 3] & 0x20 != 0 { p += 1 + Int(bytes[p]) }
            guard bytes[p] == 0, bytes[p + 1] == 0, bytes[p + 2] == 1 else { return nil }
            let t = (9..<14).map { Int(bytes[p + $0]) }
            return (t[0] >> 1 & 7) << 30 | t[1] << 22 | (t[2] >> 1) << 15 | t[3] << 7 | t[4] >> 1
        }
        return nil
    }

    /// The payload of the first null packet, where the origin puts its stamp.
    static func firstNullPayload(_ segment: ByteBuffer) -> [UInt8] {
        let bytes = segment.readableBytesView
        for offset in stride(from: bytes.startIndex, to: bytes.endIndex, by: 188)
        where bytes[offset + 1] & 0x1F == 0x1F && bytes[offset + 2] == 0xFF {
            return Array(bytes[offset + 4..<offset + 188])
        }
        return []
    }

    @Test(arguments: [0.5, 2.0])
    func liveSegmentsHaveTheNominalSizeAndContinueOneAnother(duration: Double) throws {
        let ladder = try LiveLadder(clip: try Self.clip(), bitrates: [1_000_000, 2_500_000, 5_000_000], segmentDuration: duration)
        #expect(ladder.rungs.map(\.height) == [360, 540, 720])
        for rung in ladder.rungs {
            #expect(rung.segmentSize == Int(Double(rung.bitrate) * duration / 8) / 188 * 188)
            var check = TransportStreamCheck()
            // Eight seconds cross four loops of the 2 s video and the 2.048 s audio.
            for sequence in 0..<Int(8 / duration) {
                let segment = rung.packager.segment(sequence, size: rung.segmentSize, stamp: "stamp \(sequence)")
                #expect(segment.readableBytes == rung.segmentSize)
                #expect(check.check(segment, sequence: sequence) == nil)
                #expect(Self.firstVideoPTS(segment) == 900_000 + sequence * Int(duration * 90_000))
                #expect(Self.firstNullPayload(segment).starts(with: Array("stamp \(sequence)".utf8)))
            }
        }
    }

    @Test func theContinuityCheckCatchesACutPacketAndAShortSegment() throws {
        let rung = try LiveLadder(clip: try Self.clip(), bitrates: [1_000_000], segmentDuration: 0.5).rungs[0]
        var check = TransportStreamCheck()
        #expect(check.check(rung.packager.segment(3, size: rung.segmentSize, stamp: ""), sequence: 3) == nil)
        // A player that skips ahead starts counting afresh.
        #expect(check.check(rung.packager.segment(7, size: rung.segmentSize, stamp: ""), sequence: 7) == nil)
        var next = rung.packager.segment(8, size: rung.segmentSize, stamp: "")
        var cut = next.getSlice(at: 0, length: 188 * 3)!
        var rest = next.getSlice(at: 188 * 4, length: next.readableBytes - 188 * 4)!
        cut.writeBuffer(&rest)
        #expect(check.check(cut, sequence: 8)?.contains("continuity counter") == true)
        next.moveWriterIndex(to: next.writerIndex - 100)
        #expect(check.check(next, sequence: 9)?.contains("188-byte") == true)
    }

    @Test func segmentDurationsAreWholeGOPsAndBitratesMustHoldTheSmallestRendition() throws {
        let clip = try Self.clip()
        #expect(throws: MediaError.self) { try LiveLadder(clip: clip, bitrates: [1_000_000], segmentDuration: 0.3) }
        let tooLow = #expect(throws: MediaError.self) { try LiveLadder(clip: clip, bitrates: [100_000], segmentDuration: 2) }
        #expect(tooLow?.code == .doesNotFit)
        // A single modest rung gets the smallest rendition; a generous one gets a larger picture.
        let ladder = try LiveLadder(clip: clip, bitrates: [8_000_000, 800_000], segmentDuration: 2)
        #expect(ladder.rungs.map(\.height) == [540, 360])
    }

    @Test(.enabled(if: MediaTools.available, "needs ffmpeg and ffprobe (apt-get install ffmpeg)"))
    func ffmpegDecodesConsecutiveSegmentsAcrossTheLoopWithoutAWord() async throws {
        let ladder = try LiveLadder(clip: try Self.clip(), bitrates: [1_000_000, 2_500_000, 5_000_000], segmentDuration: 2)
        let directory = TestEnvironment.temporaryDirectory("media")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (k, rung) in ladder.rungs.enumerated() {
            var stream = ByteBuffer()
            for sequence in 40..<44 {
                var segment = rung.packager.segment(sequence, size: rung.segmentSize, stamp: "")
                stream.writeBuffer(&segment)
            }
            let file = directory + "/rung\(k).ts"
            try Data(stream.readableBytesView).write(to: URL(fileURLWithPath: file))
            let decoded = try await MediaTools.run("ffmpeg", ["-hide_banner", "-nostats", "-v", "warning", "-i", file, "-f", "null", "-"])
            #expect(decoded.status == 0)
            #expect(decoded.stderr.isEmpty, "ffmpeg said: \(decoded.stderr)")
            let probe = try await MediaTools.run("ffprobe", [
                "-v", "error", "-count_packets", "-show_entries", "stream=codec_name,width,height,nb_read_packets", "-of", "csv=p=0", file,
            ])
            #expect(probe.status == 0)
            let lines = probe.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("h264,\(rung.width),\(rung.height),192"), "ffprobe: \(probe.stdout) \(probe.stderr)")
            #expect(lines.contains { $0.hasPrefix("aac,") })
        }
    }

    @Test(arguments: [
        ("bytes=0-99", SingleByteRange.range(0..<100)), ("bytes=990-", .range(990..<1000)), ("bytes=-10", .range(990..<1000)),
        ("bytes=500-5000", .range(500..<1000)), ("bytes=1000-", .unsatisfiable), ("bytes=-0", .unsatisfiable),
        ("bytes=0-1,5-6", SingleByteRange.none), ("items=0-1", SingleByteRange.none), ("bytes=9-3", SingleByteRange.none),
    ])
    func singleRangesFollowRFC9110Section14(header: String, expected: SingleByteRange) {
        #expect(SingleByteRange(header, size: 1000) == expected)
    }

    @Test(.enabled(if: MediaTools.available, "needs ffprobe (apt-get install ffmpeg)"))
    func vodIsAnMP4WithItsMoovAtTheEndThatFFprobeReadsWithARangeRequest() async throws {
        let origin = try await DemoOrigin(
            configuration: DemoOriginConfiguration(vodObjects: ["clip.mp4": 2 << 20]), group: MultiThreadedEventLoopGroup.singleton, logger: TestEnvironment.logger
        )
        defer { Task { await origin.close() } }
        let probe = try await MediaTools.run("ffprobe", [
            "-v", "warning", "-show_entries", "format=duration,size:stream=codec_name,width", "-of", "csv=p=0", origin.url + "/vod/clip.mp4",
        ])
        #expect(probe.status == 0)
        #expect(probe.stderr.isEmpty, "ffprobe said: \(probe.stderr)")
        let lines = probe.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("h264,1280"))
        #expect(lines.contains("aac"))
        // 2 MiB at the 5 Mb/s top rung: 3.36 s, rounded down to whole 0.5 s GOPs.
        #expect(lines.contains("3.000000,2097152"))
        // The moov is at the end: ffprobe asked for it with a second, ranged request.
        #expect(origin.counters.requests >= 2)

        let client = HTTPClientForTests()
        let part = try await client.get(origin.url + "/vod/clip.mp4", headers: [("Range", "bytes=4-11")])
        #expect(part.status == 206)
        #expect(part.headers.first(name: "Content-Range") == "bytes 4-11/2097152")
        #expect(String(buffer: part.body) == "ftypisom")
        let beyond = try await client.get(origin.url + "/vod/clip.mp4", headers: [("Range", "bytes=3000000-")])
        #expect(beyond.status == 416)
        #expect(beyond.headers.first(name: "Content-Range") == "bytes */2097152")
    }
}
