import ArgumentParser
import ElasticControl
import MediaOrigin
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// `ecdn origin`: the demo origin alone.
struct Origin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve live HLS channels that advance in real time, and VoD objects.",
        discussion: """
            /live/<n>/index.m3u8 is a channel's master playlist; /live/<n>/<k>/index.m3u8 its \
            media playlists (a sliding window, one new segment every --segment-duration seconds, \
            Cache-Control max-age of half a segment); /live/<n>/<k>/seg<s>.ts the segments \
            (MPEG-TS with H.264 and AAC looped from a short clip, \
            padded with null packets to bitrate x duration bytes, immutable); /vod/movie1.mp4, /vod/movie2.mp4 and \
            /vod/trailer.mp4 VoD objects (max-age one day); /status the request and byte counters.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port).")
    var port = 8002

    @Option(help: "Live channels.")
    var channels = 4

    @Option(help: ArgumentHelp("Seconds per segment, a multiple of the clip's 0.5 s GOP.", valueName: "S"))
    var segmentDuration: Double = 2

    @Option(help: "Segments per media playlist.")
    var window = 6

    @Option(help: ArgumentHelp("Bitrate ladder, bits per second, comma-separated.", valueName: "B,B,..."))
    var ladder = "1000000,2500000,5000000"

    @Option(help: ArgumentHelp("Directory of the looped clip (*.h264 renditions and audio.aac; default: the repository's Samples/media).", valueName: "DIR"))
    var media: String?

    @Option(help: "Log level.")
    var logLevel = "notice"

    func validate() throws {
        guard channels >= 1, window >= 1, segmentDuration > 0 else { throw ValidationError("--channels, --window and --segment-duration must be positive") }
        guard !parsedLadder.isEmpty else { throw ValidationError("--ladder must be positive integers, e.g. 1000000,2500000") }
    }

    var parsedLadder: [Int] {
        let values = ladder.split(separator: ",").compactMap { Int($0) }
        return values.count == ladder.split(separator: ",").count && values.allSatisfy { $0 > 0 } ? values : []
    }

    func run() async throws {
        let logger = Up.bootstrapLogging(logLevel)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let origin: DemoOrigin
        do {
            origin = try await DemoOrigin(
                configuration: DemoOriginConfiguration(host: host, port: port, channels: channels, segmentDuration: segmentDuration, windowSegments: window, ladder: parsedLadder, mediaDirectory: media),
                group: group, logger: logger
            )
        } catch {
            Up.fail("\(error)")
        }
        print("origin: \(origin.url)")
        fflush(nil)
        let serviceGroup = ServiceGroup(configuration: .init(services: [origin], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await serviceGroup.run()
        try? await group.shutdownGracefully()
    }
}
