import HTTPToolkit

/// What `ecdn origin` serves: live HLS channels that advance in real time and VoD objects.
public struct DemoOriginConfiguration: Sendable {
    /// Address to listen on. Default 127.0.0.1.
    public var host: String
    /// Port; 0 picks a free one. Default 0.
    public var port: Int
    /// Live channels `/live/1` ... `/live/<channels>`. Default 4.
    public var channels: Int
    /// Seconds of media per segment, a multiple of the clip's 0.5 s GOP; a new segment appears
    /// this often. Default 2.
    public var segmentDuration: Double
    /// Segments listed in a media playlist (the sliding window). Default 6.
    public var windowSegments: Int
    /// Segments kept fetchable behind the live edge (for caches and slow players). Default 60.
    public var retainedSegments: Int
    /// The bitrate ladder in bits per second; every segment is bitrate x duration / 8 bytes,
    /// rounded down to whole TS packets. Default 1, 2.5, 5 Mb/s.
    public var ladder: [Int]
    /// VoD objects served at `/vod/<name>` with their sizes in bytes.
    /// Default: `movie1.mp4` 16 MiB, `movie2.mp4` 32 MiB, `trailer.mp4` 4 MiB.
    public var vodObjects: [String: Int]
    /// The directory of the looped clip (`*.h264` renditions and `audio.aac`). Default: the
    /// repository's `Samples/media`, as the package was built.
    public var mediaDirectory: String
    /// Wall-clock time (seconds since 1970) of segment 0 of every channel; nil = when the origin
    /// starts, minus one window so that playlists are full at once.
    public var epoch: Double?
    /// Serve HTTPS with this certificate. Default nil (HTTP).
    public var tls: TLSFiles?

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        channels: Int = 4,
        segmentDuration: Double = 2,
        windowSegments: Int = 6,
        retainedSegments: Int = 60,
        ladder: [Int] = [1_000_000, 2_500_000, 5_000_000],
        vodObjects: [String: Int] = ["movie1.mp4": 16 << 20, "movie2.mp4": 32 << 20, "trailer.mp4": 4 << 20],
        mediaDirectory: String? = nil,
        epoch: Double? = nil,
        tls: TLSFiles? = nil
    ) {
        self.tls = tls
        self.mediaDirectory = mediaDirectory ?? MediaClip.defaultDirectory
        self.host = host
        self.port = port
        self.channels = channels
        self.segmentDuration = segmentDuration
        self.windowSegments = windowSegments
        self.retainedSegments = retainedSegments
        self.ladder = ladder
        self.vodObjects = vodObjects
        self.epoch = epoch
    }
}
