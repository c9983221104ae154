import Foundation

/// The short clip the demo origin loops: H.264 renditions of one picture sequence and one AAC
/// track, read from a directory such as the repository's `Samples/media` (made by its
/// `make-media.sh`).
///
/// Video and audio loop separately, each over its own length, so neither needs to be a multiple
/// of the other; timestamps on the 90 kHz MPEG clock stay continuous across every loop.
package struct MediaClip: Sendable {
    /// One picture size of the clip, from `<name>.h264`.
    package struct Rendition: Sendable {
        package var name: String
        package var video: H264Stream
    }

    /// Renditions from the smallest picture to the largest.
    package let renditions: [Rendition]
    /// The audio loop, without the encoder's priming frame.
    package let audio: ADTSStream
    /// Duration of one video frame and of one audio frame in 90 kHz ticks.
    package let frameTicks: Int
    package let audioFrameTicks: Int
    /// Frames from one IDR picture to the next.
    package let gopFrames: Int

    /// The directory of the repository's clip, as this source file was compiled.
    package static var defaultDirectory: String {
        let source = "\(#filePath)"
        let root = source.components(separatedBy: "/Sources/MediaOrigin/").first ?? "."
        return root + "/Samples/media"
    }

    /// Reads every `*.h264` rendition and `audio.aac` from `directory`.
    /// - Throws: ``MediaError`` when a file is missing or is not a clip the packager can loop.
    package init(directory: String) throws(MediaError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".h264") }
        } catch {
            throw MediaError(.clipNotFound, "cannot read the media directory \(directory): pass the repository's Samples/media (ecdn origin --media DIR)")
        }
        guard !names.isEmpty else {
            throw MediaError(.clipNotFound, "\(directory) holds no .h264 rendition: run Samples/media/make-media.sh or pass another --media directory")
        }
        var renditions: [Rendition] = []
        for name in names {
            let stream = try H264Stream(bytes: try Self.read(directory + "/" + name))
            renditions.append(Rendition(name: String(name.dropLast(".h264".count)), video: stream))
        }
        renditions.sort { $0.video.width * $0.video.height < $1.video.width * $1.video.height }
        let audio = try ADTSStream(bytes: try Self.read(directory + "/audio.aac")).droppingFirstFrame()
        try self.init(renditions: renditions, audio: audio)
    }

    init(renditions: [Rendition], audio: ADTSStream) throws(MediaError) {
        let first = renditions[0].video
        let (numerator, denominator) = first.frameRate
        guard numerator > 0, (90_000 * denominator) % numerator == 0 else {
            throw MediaError(.unsupported, "a frame rate of \(numerator)/\(denominator) is not a whole number of 90 kHz ticks per frame")
        }
        guard (90_000 * ADTSStream.samplesPerFrame) % audio.sampleRate == 0 else {
            throw MediaError(.unsupported, "an AAC sample rate of \(audio.sampleRate) Hz is not a whole number of 90 kHz ticks per frame; use 48, 32, 24 or 16 kHz")
        }
        guard !audio.frames.isEmpty else { throw MediaError(.badClip, "the audio loop has no frame after the priming frame") }
        let keyframes = first.accessUnits.indices.filter { first.accessUnits[$0].isKeyframe }
        let gop = keyframes.count > 1 ? keyframes[1] : first.accessUnits.count
        for rendition in renditions {
            let units = rendition.video.accessUnits
            guard rendition.video.frameRate == first.frameRate, units.count == first.accessUnits.count else {
                throw MediaError(.badClip, "rendition \(rendition.name) differs in frame rate or frame count from \(renditions[0].name)")
            }
            guard units.count % gop == 0, units.indices.allSatisfy({ units[$0].isKeyframe == ($0 % gop == 0) }) else {
                throw MediaError(.badClip, "rendition \(rendition.name) needs an IDR picture exactly every \(gop) frames (x264: keyint=min-keyint, scenecut=0)")
            }
        }
        self.renditions = renditions
        self.audio = audio
        self.frameTicks = 90_000 * denominator / numerator
        self.audioFrameTicks = 90_000 * ADTSStream.samplesPerFrame / audio.sampleRate
        self.gopFrames = gop
    }

    private static func read(_ path: String) throws(MediaError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MediaError(.clipNotFound, "cannot read \(path): run Samples/media/make-media.sh or pass another --media directory")
        }
        return [UInt8](data)
    }
}
