/// The demo origin's content as a function of time: HLS master and media playlists with a sliding
/// window, and VoD objects. Pure: the time is passed in.
package struct LiveCatalog: Sendable {
    package let configuration: DemoOriginConfiguration
    package let epoch: Double

    package init(configuration: DemoOriginConfiguration, epoch: Double) {
        self.configuration = configuration
        self.epoch = epoch
    }

    /// What a path names.
    package enum Item: Equatable, Sendable {
        case master(channel: Int)
        case media(channel: Int, variant: Int)
        case segment(channel: Int, variant: Int, sequence: Int)
        case vod(name: String, size: Int)
    }

    /// Parses `/live/<n>/index.m3u8`, `/live/<n>/<k>/index.m3u8`, `/live/<n>/<k>/seg<s>.ts`, `/vod/<name>`.
    package func item(path: String) -> Item? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0].isEmpty else { return nil }
        if parts[1] == "vod", parts.count == 3 {
            let name = String(parts[2])
            return configuration.vodObjects[name].map { .vod(name: name, size: $0) }
        }
        guard parts[1] == "live", let channel = Int(parts[2]), (1...configuration.channels).contains(channel) else { return nil }
        if parts.count == 4, parts[3] == "index.m3u8" { return .master(channel: channel) }
        guard parts.count == 5, let variant = Int(parts[3]), configuration.ladder.indices.contains(variant) else { return nil }
        if parts[4] == "index.m3u8" { return .media(channel: channel, variant: variant) }
        let name = parts[4]
        guard name.hasPrefix("seg"), name.hasSuffix(".ts"), let sequence = Int(name.dropFirst(3).dropLast(3)) else { return nil }
        return .segment(channel: channel, variant: variant, sequence: sequence)
    }

    /// The newest segment complete at `now`.
    package func liveEdge(at now: Double) -> Int {
        Int(((now - epoch) / configuration.segmentDuration).rounded(.down)) - 1
    }

    /// A segment is served from when it is complete until it falls out of the retained range.
    package func isAvailable(sequence: Int, at now: Double) -> Bool {
        let edge = liveEdge(at: now)
        return sequence >= 0 && sequence <= edge && sequence > edge - configuration.retainedSegments
    }

    /// When a segment became complete (its `Last-Modified`).
    package func completionTime(of sequence: Int) -> Double {
        epoch + Double(sequence + 1) * configuration.segmentDuration
    }

    /// The master playlist of a channel: one variant per rung, with its real picture size, codecs
    /// and frame rate.
    package func masterPlaylist(ladder: LiveLadder) -> String {
        var text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        for (k, rung) in ladder.rungs.enumerated() {
            let rate = (rung.frameRate * 1000).rounded() / 1000
            text += "#EXT-X-STREAM-INF:BANDWIDTH=\(rung.bitrate),RESOLUTION=\(rung.width)x\(rung.height),CODECS=\"\(rung.codecs)\",FRAME-RATE=\(rate)\n\(k)/index.m3u8\n"
        }
        return text
    }

    /// The media playlist at `now`: the last `windowSegments` complete segments.
    package func mediaPlaylist(at now: Double) -> (text: String, firstSequence: Int) {
        let edge = liveEdge(at: now)
        let first = max(0, edge - configuration.windowSegments + 1)
        let duration = configuration.segmentDuration
        var text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:\(Int(duration.rounded(.up)))\n#EXT-X-MEDIA-SEQUENCE:\(first)\n"
        if edge >= 0 {
            for sequence in first...edge {
                text += "#EXTINF:\(duration),\nseg\(sequence).ts\n"
            }
        }
        return (text, first)
    }
}
