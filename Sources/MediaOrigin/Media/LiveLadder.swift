/// The live channels' bitrate ladder made real: for each nominal bitrate, a rendition of the clip
/// whose segments fit in that many bytes per segment, and the packager that cuts them.
package struct LiveLadder: Sendable {
    package struct Rung: Sendable {
        /// Nominal bits per second; every segment is exactly ``segmentSize`` bytes.
        package var bitrate: Int
        package var rendition: String
        package var width: Int
        package var height: Int
        /// The `CODECS` attribute of the master playlist (RFC 8216 §4.3.4.2).
        package var codecs: String
        package var frameRate: Double
        package var segmentSize: Int
        package var packager: TransportStreamPackager
    }

    package let rungs: [Rung]

    /// Rung `k` in bitrate order gets the `k`-th rendition by picture size (the largest for the
    /// rungs above the clip's count), or a smaller one when its segments would not fit.
    /// - Throws: ``MediaError`` when the segment duration is not a whole number of GOPs or a
    ///   bitrate is below what the smallest rendition needs.
    package init(clip: MediaClip, bitrates: [Int], segmentDuration: Double) throws(MediaError) {
        let packagers = try clip.renditions.indices.map { index throws(MediaError) in
            try TransportStreamPackager(clip: clip, rendition: index, segmentDuration: segmentDuration)
        }
        let rank = Dictionary(uniqueKeysWithValues: bitrates.indices.sorted { bitrates[$0] < bitrates[$1] }.enumerated().map { ($1, $0) })
        var rungs: [Rung] = []
        for (index, bitrate) in bitrates.enumerated() {
            let size = Self.segmentSize(bitrate: bitrate, duration: segmentDuration)
            var choice = min(rank[index] ?? 0, clip.renditions.count - 1)
            while choice > 0, packagers[choice].largestSegment > size { choice -= 1 }
            guard packagers[choice].largestSegment <= size else {
                let needed = Int((Double(packagers[0].largestSegment * 8) / segmentDuration).rounded(.up))
                throw MediaError(.doesNotFit, "a bitrate of \(bitrate) b/s is below the \(needed) b/s that rendition \(clip.renditions[0].name) needs; raise it")
            }
            let rendition = clip.renditions[choice]
            let rate = rendition.video.frameRate
            rungs.append(Rung(
                bitrate: bitrate, rendition: rendition.name, width: rendition.video.width, height: rendition.video.height,
                codecs: rendition.video.codecs + "," + clip.audio.codecs, frameRate: Double(rate.numerator) / Double(rate.denominator),
                segmentSize: size, packager: packagers[choice]
            ))
        }
        self.rungs = rungs
    }

    /// Bytes of one segment: bitrate x duration / 8, rounded down to whole 188-byte TS packets.
    package static func segmentSize(bitrate: Int, duration: Double) -> Int {
        Int(Double(bitrate) * duration / 8) / 188 * 188
    }
}
